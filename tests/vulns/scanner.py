"""A stand-in scanner for tests: reads an image from the real registry like Trivy and Grype do, and writes
reports in their documented JSON formats (trivy pkg/types SchemaVersion 2; grype presenter models with
syft's image source), including the fields Regent ignores, so parsing is tested against realistic files.

Identity fields follow each tool's behaviour: Trivy scanning an index by tag reports the index digest in
RepoDigests and the chosen platform's config digest as ImageID; Grype reports the platform manifest's
digest as manifestDigest and layer diff ids as `layerID`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
SCANNED_AT = "2026-11-26T22:15:03.123456789Z"


@dataclass(frozen=True, slots=True)
class Vuln:
    """A vulnerability to plant in a report, in one layer of the image (index into its layers)."""

    cve: str
    package: str
    version: str
    layer: int
    severity: str = "HIGH"
    cvss: float | None = 7.5
    fixed: str = ""
    status: str = ""  # Trivy status; default fixed/affected from `fixed`
    kev: bool = False  # Grype only: knownExploited entry
    epss: float | None = None  # Grype only: epss entry
    ghsa: str = ""  # Grype: report the match under a GHSA id with the CVE as related


@dataclass(slots=True)
class ScannedImage:
    """What a scanner reads from the registry for one reference and platform."""

    host: str
    repository: str
    reference: str  # as given: host/repo:tag or host/repo@digest
    top_digest: str  # digest of what the reference points at (index or image)
    manifest_digest: str  # the platform image manifest
    manifest: bytes
    config: bytes
    layers: list[dict[str, Any]]
    diff_ids: list[str]
    platform: tuple[str, str]
    tag: str | None
    config_doc: dict[str, Any] = field(default_factory=dict)

    @property
    def image_id(self) -> str:
        """The config digest, which both tools report as the image id."""
        return "sha256:" + hashlib.sha256(self.config).hexdigest()


def read_image(
    client: httpx.Client, registry_url: str, host: str, reference: str, *, platform: str = "linux/amd64"
) -> ScannedImage:
    """GET the manifest (resolving an index to `platform`) and the config, as a scanner does."""
    name = reference.removeprefix(host + "/")
    repository, tag, digest = _split(name)
    top = _get(client, f"{registry_url}/v2/{repository}/manifests/{digest or tag}")
    top_digest = "sha256:" + hashlib.sha256(top.content).hexdigest()
    body, document = top.content, top.json()
    if "manifests" in document:
        os_name, arch = platform.split("/")[:2]
        child = next(
            m
            for m in document["manifests"]
            if (m["platform"]["os"], m["platform"]["architecture"]) == (os_name, arch)
        )
        body = _get(client, f"{registry_url}/v2/{repository}/manifests/{child['digest']}").content
        document = json.loads(body)
    config = _get(client, f"{registry_url}/v2/{repository}/blobs/{document['config']['digest']}").content
    config_doc = json.loads(config)
    return ScannedImage(
        host=host,
        repository=repository,
        reference=reference,
        top_digest=top_digest,
        manifest_digest="sha256:" + hashlib.sha256(body).hexdigest(),
        manifest=body,
        config=config,
        layers=document["layers"],
        diff_ids=config_doc["rootfs"]["diff_ids"],
        platform=(config_doc["os"], config_doc["architecture"]),
        tag=tag if digest is None else None,
        config_doc=config_doc,
    )


def _split(name: str) -> tuple[str, str | None, str | None]:
    if "@" in name:
        repository, _, digest = name.partition("@")
        return repository, None, digest
    repository, _, tag = name.rpartition(":")
    return repository, tag, None


def _get(client: httpx.Client, url: str) -> httpx.Response:
    response = client.get(url, headers={"Accept": ACCEPT})
    response.raise_for_status()
    return response


# -- Trivy ----------------------------------------------------------------------------------------------


def trivy_report(image: ScannedImage, vulns: list[Vuln], *, os_name: str = "alpine 3.19.1") -> dict[str, Any]:
    """`trivy image --format json IMAGE` for this image."""
    family, _, version = os_name.partition(" ")
    return {
        "SchemaVersion": 2,
        "CreatedAt": SCANNED_AT,
        "ArtifactName": image.reference,
        "ArtifactType": "container_image",
        "Metadata": {
            "Size": sum(layer["size"] for layer in image.layers),
            "OS": {"Family": family, "Name": version},
            "ImageID": image.image_id,
            "DiffIDs": image.diff_ids,
            "RepoTags": [image.reference] if image.tag else [],
            "RepoDigests": [f"{image.host}/{image.repository}@{image.top_digest}"],
            "ImageConfig": image.config_doc,
            "Layers": [
                {"Size": layer["size"], "Digest": layer["digest"], "DiffID": diff}
                for layer, diff in zip(image.layers, image.diff_ids, strict=True)
            ],
        },
        "Results": [
            {
                "Target": f"{image.reference} ({os_name})",
                "Class": "os-pkgs",
                "Type": family,
                "Vulnerabilities": [
                    _trivy_vuln(image, v, family) for v in vulns if not v.package.startswith("go:")
                ],
            },
            {
                "Target": "app/run",
                "Class": "lang-pkgs",
                "Type": "gobinary",
                "Vulnerabilities": [
                    _trivy_vuln(image, v, "golang") for v in vulns if v.package.startswith("go:")
                ]
                or None,
            },
        ],
    }


def _trivy_vuln(image: ScannedImage, vuln: Vuln, ecosystem: str) -> dict[str, Any]:
    package = vuln.package.removeprefix("go:")
    cvss = {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": vuln.cvss}}
    entry: dict[str, Any] = {
        "VulnerabilityID": vuln.cve,
        "PkgID": f"{package}@{vuln.version}",
        "PkgName": package,
        "PkgIdentifier": {"PURL": f"pkg:{ecosystem}/{package}@{vuln.version}", "UID": vuln.cve[-8:]},
        "InstalledVersion": vuln.version,
        "Status": vuln.status or ("fixed" if vuln.fixed else "affected"),
        "Layer": {"Digest": image.layers[vuln.layer]["digest"], "DiffID": image.diff_ids[vuln.layer]},
        "SeveritySource": "nvd",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vuln.cve.lower()}",
        "DataSource": {"ID": ecosystem, "Name": f"{ecosystem} secdb", "URL": "https://example.invalid/"},
        "Title": f"{package}: planted test vulnerability",
        "Description": "A vulnerability planted by the test scanner.",
        "Severity": vuln.severity,
        "CweIDs": ["CWE-787"],
        "VendorSeverity": {"nvd": 3},
        "References": [f"https://nvd.nist.gov/vuln/detail/{vuln.cve}"],
        "PublishedDate": "2026-01-10T17:15:00Z",
        "LastModifiedDate": "2026-02-01T10:00:00Z",
    }
    if vuln.fixed:
        entry["FixedVersion"] = vuln.fixed
    if vuln.cvss is not None:
        entry["CVSS"] = cvss
    return entry


# -- Grype ----------------------------------------------------------------------------------------------


def grype_report(image: ScannedImage, vulns: list[Vuln], *, distro: str = "alpine 3.19.0") -> dict[str, Any]:
    """`grype -o json IMAGE` for this image."""
    name, _, version = distro.partition(" ")
    return {
        "matches": [_grype_match(image, v, name) for v in vulns],
        "ignoredMatches": [],
        "source": {
            "type": "image",
            "target": {
                "userInput": image.reference,
                "imageID": image.image_id,
                "manifestDigest": image.manifest_digest,
                "mediaType": json.loads(image.manifest).get("mediaType", ""),
                "tags": [image.reference] if image.tag else [],
                "imageSize": sum(layer["size"] for layer in image.layers),
                "layers": [
                    {"mediaType": layer["mediaType"], "digest": diff, "size": layer["size"]}
                    for layer, diff in zip(image.layers, image.diff_ids, strict=True)
                ],
                "manifest": base64.b64encode(image.manifest).decode(),
                "config": base64.b64encode(image.config).decode(),
                "repoDigests": [f"{image.host}/{image.repository}@{image.top_digest}"],
                "architecture": image.platform[1],
                "os": image.platform[0],
                "labels": image.config_doc.get("config", {}).get("Labels") or {},
            },
        },
        "distro": {"name": name, "version": version, "idLike": []},
        "descriptor": {
            "name": "grype",
            "version": "0.87.0",
            "configuration": {"output": ["json"], "only-fixed": False},
            "db": {"status": {"schemaVersion": "v6.0.2", "built": "2026-11-26T01:30:00Z"}},
            "timestamp": "2026-11-26T23:00:01.5+01:00",
        },
    }


def _grype_match(image: ScannedImage, vuln: Vuln, distro: str) -> dict[str, Any]:
    package = vuln.package.removeprefix("go:")
    kind = "go-module" if vuln.package.startswith("go:") else "apk"
    vid = vuln.ghsa or vuln.cve
    cvss = (
        [
            {
                "source": "nvd@nist.gov",
                "type": "Primary",
                "version": "3.1",
                "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "metrics": {"baseScore": vuln.cvss, "exploitabilityScore": 3.9, "impactScore": 5.9},
                "vendorMetadata": {},
            }
        ]
        if vuln.cvss is not None
        else []
    )
    vulnerability: dict[str, Any] = {
        "id": vid,
        "dataSource": f"https://security.alpinelinux.org/vuln/{vid}",
        "namespace": f"{distro}:distro:{distro}:3.19",
        "severity": vuln.severity.capitalize(),
        "urls": [f"https://nvd.nist.gov/vuln/detail/{vuln.cve}"],
        "description": f"{package}: planted test vulnerability",
        "cvss": [] if vuln.ghsa else cvss,
        "knownExploited": [
            {
                "cve": vuln.cve,
                "vendorProject": "Example",
                "product": package,
                "dateAdded": "2026-03-01",
                "requiredAction": "Apply updates per vendor instructions.",
                "dueDate": "2026-03-22",
                "knownRansomwareCampaignUse": "Unknown",
                "urls": [],
                "cwes": ["CWE-787"],
            }
        ]
        if vuln.kev
        else [],
        "epss": [{"cve": vuln.cve, "epss": vuln.epss, "percentile": 0.97, "date": "2026-11-25"}]
        if vuln.epss is not None
        else [],
        "cwes": [{"cve": vuln.cve, "cwe": "CWE-787", "source": "nvd@nist.gov", "type": "Primary"}],
        "fix": {
            "versions": [vuln.fixed] if vuln.fixed else [],
            "state": "fixed" if vuln.fixed else (vuln.status or "not-fixed"),
            "available": [{"version": vuln.fixed, "date": "2026-02-02", "kind": "first-observed"}]
            if vuln.fixed
            else [],
        },
        "advisories": [],
        "risk": 12.5,
    }
    related = (
        [
            {
                "id": vuln.cve,
                "dataSource": "https://nvd.nist.gov",
                "namespace": "nvd:cpe",
                "severity": "High",
                "cvss": cvss,
            }
        ]
        if vuln.ghsa
        else []
    )
    return {
        "vulnerability": vulnerability,
        "relatedVulnerabilities": related,
        "matchDetails": [
            {
                "type": "exact-direct-match",
                "matcher": f"{kind}-matcher",
                "searchedBy": {"distro": {"type": distro, "version": "3.19"}, "package": {"name": package}},
                "found": {"vulnerabilityID": vid, "versionConstraint": f"< {vuln.fixed or '99'} (apk)"},
            }
        ],
        "artifact": {
            "id": hashlib.sha1(f"{package}{vuln.version}".encode(), usedforsecurity=False).hexdigest()[:16],
            "name": package,
            "version": vuln.version,
            "type": kind,
            "locations": [
                {
                    "path": "/lib/apk/db/installed" if kind == "apk" else "/app/run",
                    "layerID": image.diff_ids[vuln.layer],
                    "accessPath": "/lib/apk/db/installed",
                    "annotations": {"evidence": "primary"},
                }
            ],
            "language": "go" if kind == "go-module" else "",
            "licenses": ["MIT"],
            "cpes": [f"cpe:2.3:a:{package}:{package}:{vuln.version}:*:*:*:*:*:*:*"],
            "purl": f"pkg:{kind}/{package}@{vuln.version}",
            "upstreams": [],
            "metadataType": "ApkMetadata" if kind == "apk" else "GolangBinMetadata",
            "metadata": {"package": package, "version": vuln.version},
        },
    }
