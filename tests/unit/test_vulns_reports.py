"""Parsing Trivy and Grype JSON into findings: field mapping, tolerance of unknown fields, clear errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.errors import ReportError
from tools.vulns.reports import parse_report

LAYER = {"Digest": "sha256:" + "a" * 64, "DiffID": "sha256:" + "b" * 64}


def _trivy(*vulns: dict[str, Any], **top: Any) -> dict[str, Any]:
    document = {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-26T22:15:03.123456789Z",
        "ArtifactName": "registry.example.com/shop/api:1.4.0",
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "alpine", "Name": "3.19.1"},
            "ImageID": "sha256:" + "c" * 64,
            "DiffIDs": ["sha256:" + "b" * 64],
            "RepoTags": ["registry.example.com/shop/api:1.4.0"],
            "RepoDigests": ["registry.example.com/shop/api@sha256:" + "d" * 64],
            "ImageConfig": {"os": "linux", "architecture": "arm64"},
        },
        "Results": [
            {
                "Target": "x (alpine 3.19.1)",
                "Class": "os-pkgs",
                "Type": "alpine",
                "Vulnerabilities": list(vulns),
            }
        ],
    }
    document.update(top)
    return document


def _vuln(cve: str = "CVE-2026-0001", **fields: Any) -> dict[str, Any]:
    entry = {
        "VulnerabilityID": cve,
        "PkgName": "openssl",
        "InstalledVersion": "3.1.4-r1",
        "Severity": "HIGH",
        "Layer": LAYER,
    }
    entry.update(fields)
    return entry


def _parse(document: Any) -> Any:
    return parse_report(json.dumps(document).encode(), source="r.json")


def test_trivy_fields_map_to_findings() -> None:
    report = _parse(
        _trivy(
            _vuln(
                FixedVersion="1.5.13, 1.3.15",
                Status="fixed",
                CVSS={"nvd": {"V2Score": 10.0, "V3Score": 7.5}, "redhat": {"V3Score": 8.1}},
                Title="openssl: bad",
                PrimaryURL="https://avd.aquasec.com/nvd/cve-2026-0001",
            ),
            _vuln("CVE-2026-0002", Status="will_not_fix", Severity="low", CVSS={"nvd": {"V2Score": 4.3}}),
            _vuln("CVE-2026-0003", Status="affected", Severity="MODERATE"),
            _vuln("CVE-2026-0004", Status="not_affected"),
            _vuln("GHSA-xxxx-yyyy-zzzz", VendorIDs=["CVE-2026-0005"]),
        )
    )
    assert (report.scanner, report.skipped, report.target.platform) == ("trivy", 1, "linux/arm64")
    assert report.created_at is not None and report.created_at.year == 2026
    first, wont, affected, ghsa = report.findings
    assert (first.fixed_versions, first.fix_state, first.cvss, first.severity) == (
        ("1.5.13", "1.3.15"),
        "fixed",
        8.1,  # highest v3 score; the v2 10.0 only counts when nothing newer exists
        "HIGH",
    )
    assert (first.layer_diff_id, first.layer_digest) == (LAYER["DiffID"], LAYER["Digest"])
    assert (wont.fix_state, wont.cvss, wont.severity) == ("wont-fix", 4.3, "LOW")
    assert (affected.fix_state, affected.severity, affected.cvss) == ("not-fixed", "MEDIUM", None)
    assert (ghsa.vulnerability_id, ghsa.cve) == ("GHSA-xxxx-yyyy-zzzz", "CVE-2026-0005")


def test_same_package_in_two_targets_is_one_finding() -> None:
    document = _trivy(_vuln())
    document["Results"].append({"Target": "app/go.mod", "Vulnerabilities": [_vuln()]})
    assert len(_parse(document).findings) == 1


def test_trivy_legacy_bare_array_is_refused() -> None:
    # Trivy before 0.20 wrote a bare array (no SchemaVersion, no image metadata): issue 12 accepts only 2.
    with pytest.raises(ReportError, match=r"a bare JSON array is the output of Trivy before 0\.20"):
        _parse([{"Target": "shop/api:1.0 (alpine 3.7.1)", "Vulnerabilities": [_vuln()]}])


def test_canonical_hash_ignores_formatting() -> None:
    document = _trivy(_vuln())
    compact = parse_report(json.dumps(document, separators=(",", ":")).encode(), source="a")
    pretty = parse_report(json.dumps(document, indent=4).encode(), source="b")
    assert compact.sha256 == pretty.sha256


def _grype(match: dict[str, Any], **source: Any) -> dict[str, Any]:
    return {
        "matches": [match],
        "ignoredMatches": [{"vulnerability": {"id": "CVE-2020-1"}}],
        "source": source
        or {
            "type": "image",
            "target": {
                "userInput": "registry.example.com/shop/api@sha256:" + "d" * 64,
                "imageID": "sha256:" + "c" * 64,
                "manifestDigest": "sha256:" + "e" * 64,
                "repoDigests": ["registry.example.com/shop/api@sha256:" + "d" * 64],
                "tags": [],
                "architecture": "amd64",
                "os": "linux",
                "futureField": {"x": 1},
            },
        },
        "descriptor": {"name": "grype", "version": "0.87.0", "timestamp": "2026-11-26T23:00:01.5+01:00"},
    }


def _match(**vulnerability: Any) -> dict[str, Any]:
    base = {
        "id": "GHSA-aaaa-bbbb-cccc",
        "severity": "Critical",
        "fix": {"versions": ["1.21.8"], "state": "fixed"},
        "knownExploited": [{"cve": "CVE-2026-0009", "knownRansomwareCampaignUse": "Known"}],
        "epss": [{"cve": "CVE-2026-0009", "epss": 0.42, "percentile": 0.97, "date": "2026-11-25"}],
    }
    base.update(vulnerability)
    return {
        "vulnerability": base,
        "relatedVulnerabilities": [
            {"id": "CVE-2026-0009", "cvss": [{"version": "3.1", "metrics": {"baseScore": 9.1}}]}
        ],
        "artifact": {
            "name": "stdlib",
            "version": "go1.21.0",
            "type": "go-module",
            "locations": [{"path": "/app/run", "layerID": "sha256:" + "b" * 64}],
        },
    }


def test_grype_fields_map_to_findings() -> None:
    report = _parse(_grype(_match()))
    (finding,) = report.findings
    assert (report.scanner, report.scanner_version, report.skipped) == ("grype", "0.87.0", 1)
    assert report.target.manifest_digest == "sha256:" + "e" * 64 and report.target.platform == "linux/amd64"
    assert (finding.vulnerability_id, finding.cve, finding.cvss, finding.severity) == (
        "GHSA-aaaa-bbbb-cccc",
        "CVE-2026-0009",
        9.1,  # from the related NVD record
        "CRITICAL",
    )
    assert (finding.scanner_kev, finding.scanner_ransomware, finding.scanner_epss) == (True, True, 0.42)
    assert finding.layer_diff_id == "sha256:" + "b" * 64 and finding.fixed_versions == ("1.21.8",)


def test_grype_unknown_fix_state_is_unknown() -> None:
    (finding,) = _parse(_grype(_match(fix={"versions": [], "state": "patch-pending"}))).findings
    assert finding.fix_state == "unknown"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "r.json: empty file; expected a Trivy or Grype JSON report"),
        (b"  \n", "r.json: empty file"),
        (b"\xff\xfe{", "r.json: not UTF-8 text"),
        (b'{"Results": [{"Target": "x", "Vulner', "the file looks truncated"),
        (b'{"a": 1,}', "not valid JSON at line 1 column 9"),
        (b"42", "top level is int, not a JSON object"),
        (
            b'{"kind": "Pod"}',
            "not a Trivy (`trivy image -f json`) or Grype (`grype -o json`) report (top-level keys: kind)",
        ),
        (b'{"matches": "none"}', "r.json: matches: Input should be a valid list"),
        (
            b'{"Results": [{"Vulnerabilities": [{"PkgName": "x"}]}]}',
            "Results.0.Vulnerabilities.0.VulnerabilityID: Field required",
        ),
        (
            b'{"SchemaVersion": 2, "ArtifactType": "repository", "Results": []}',
            "a Trivy 'repository' report; only image scans",
        ),
        (b'{"matches": [], "source": {"type": "directory", "target": "/src"}}', "a Grype 'directory' scan"),
    ],
)
def test_bad_reports_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_report(data, source="r.json")
    assert message in str(caught.value)
