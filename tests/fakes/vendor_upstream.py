"""What a vendor fake reads off the real docker-registry behind it: repositories, tags, manifests, sizes.

Every vendor fake (Harbor, Quay, ACR, GAR) answers its native listings from the real registry's current
state, read over v2 (no auth: the `registry` fixture), so nothing native can drift from the v2 data and a
delete through v2 or through the vendor path shows in the next listing, as on the real product.

Distribution 2.8 cannot delete a tag (a DELETE by tag answers 400 DIGEST_INVALID), while ACR and GAR can: a
tag the vendor removed is kept here as (repository, tag) -> the digest it pointed at, and hidden for as long
as the real registry still maps the tag to that digest (a later push of the same tag shows again).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import httpx

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
INDEX_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)


@dataclass(frozen=True, slots=True)
class Stored:
    """One manifest in the real registry, with the sizes vendors compute from it."""

    digest: str
    media_type: str
    manifest_size: int
    config_size: int
    layer_sizes: tuple[int, ...]
    children: tuple[tuple[str, str, str], ...]  # (digest, os, architecture) of an index's manifests

    @property
    def is_index(self) -> bool:
        """An image index or manifest list."""
        return bool(self.children) or "index" in self.media_type or "list" in self.media_type


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """One manifest of the real registry, as a vendor would describe it."""

    digest: str
    media_type: str
    image_size: int  # config + layers (an index: its children's image sizes)
    config_media_type: str
    os: str
    architecture: str
    children: tuple[str, ...]  # index entries
    created: str = ""  # the image config's `created`, as written there


class UpstreamView:
    """Reads the real registry at `url` over v2 and keeps the tags the vendor removed."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=30)
        self._removed: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def repositories(self) -> list[str]:
        """The real catalog."""
        body = self._http.get(f"{self.url}/v2/_catalog", params={"n": "1000"}).json()
        return list(body.get("repositories") or [])

    def raw_tags(self, repository: str) -> list[str]:
        """The real registry's tags of a repository (removed ones included)."""
        response = self._http.get(f"{self.url}/v2/{repository}/tags/list")
        if response.status_code != 200:
            return []
        return list(response.json().get("tags") or [])

    def resolve(self, repository: str, reference: str) -> str | None:
        """The digest a tag or digest names in the real registry; None when it names nothing."""
        response = self._http.head(
            f"{self.url}/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT}
        )
        if response.status_code != 200:
            return None
        digest: str | None = response.headers.get("docker-content-digest")
        return digest

    def tags(self, repository: str) -> dict[str, str]:
        """tag -> digest, without the tags the vendor removed."""
        found: dict[str, str] = {}
        for tag in self.raw_tags(repository):
            digest = self.resolve(repository, tag)
            if digest is not None and not self.is_removed(repository, tag, digest):
                found[tag] = digest
        return found

    def is_removed(self, repository: str, tag: str, digest: str) -> bool:
        """Whether the vendor removed this tag while it pointed at this digest."""
        with self._lock:
            return self._removed.get((repository, tag)) == digest

    def remove_tag(self, repository: str, tag: str) -> bool:
        """The vendor's tag delete; False when the tag does not exist (any more)."""
        digest = self.resolve(repository, tag)
        if digest is None or self.is_removed(repository, tag, digest):
            return False
        with self._lock:
            self._removed[(repository, tag)] = digest
        return True

    def tags_of(self, repository: str) -> dict[str, list[str]]:
        """digest -> its tags (sorted), for the tagged digests of a repository."""
        by_digest: dict[str, list[str]] = {}
        for tag, digest in sorted(self.tags(repository).items()):
            by_digest.setdefault(digest, []).append(tag)
        return by_digest

    def facts(self, repository: str, digest: str) -> ManifestFacts | None:
        """What a vendor says about one manifest; None when the real registry does not have it."""
        response = self._http.get(
            f"{self.url}/v2/{repository}/manifests/{digest}", headers={"Accept": ACCEPT}
        )
        if response.status_code != 200:
            return None
        document: dict[str, Any] = json.loads(response.content)
        media_type = document.get("mediaType") or response.headers.get("content-type", "").split(";")[0]
        if media_type in INDEX_TYPES:
            children = tuple(str(entry["digest"]) for entry in document.get("manifests") or [])
            sizes = [self.facts(repository, child) for child in children]
            total = sum(found.image_size for found in sizes if found is not None)
            return ManifestFacts(digest, media_type, total, "", "", "", children)
        config = document.get("config") or {}
        layers = document.get("layers") or []
        size = int(config.get("size", 0)) + sum(int(layer.get("size", 0)) for layer in layers)
        os_name, architecture, created = self._config(repository, str(config.get("digest", "")))
        return ManifestFacts(
            digest, media_type, size, str(config.get("mediaType", "")), os_name, architecture, (), created
        )

    def digests(self, repository: str, extra: set[str]) -> list[str]:
        """Manifests a vendor lists for a repository: tagged ones, their index children, and the `extra`
        digests (pushed untagged) the real registry still has there; sorted."""
        found = set(self.tags(repository).values())
        for digest in list(found):
            facts = self.facts(repository, digest)
            if facts is not None:
                found.update(facts.children)
        found.update(d for d in extra - found if self.resolve(repository, d) is not None)
        return sorted(found)

    def manifest(self, repository: str, digest: str) -> Stored | None:
        """A manifest with the sizes of its config and layers; None when gone."""
        answer = self._http.get(f"{self.url}/v2/{repository}/manifests/{digest}", headers={"Accept": ACCEPT})
        if answer.status_code != 200:
            return None
        document = json.loads(answer.content)
        children = tuple(
            (m["digest"], m.get("platform", {}).get("os", ""), m.get("platform", {}).get("architecture", ""))
            for m in document.get("manifests", [])
        )
        return Stored(
            digest=digest,
            media_type=answer.headers.get("content-type", "").split(";")[0],
            manifest_size=len(answer.content),
            config_size=int(document.get("config", {}).get("size", 0)),
            layer_sizes=tuple(int(layer["size"]) for layer in document.get("layers", [])),
            children=children,
        )

    def delete(self, repository: str, digest: str) -> bool:
        """Delete a manifest by digest in the real registry; False when it was not there."""
        answer = self._http.delete(f"{self.url}/v2/{repository}/manifests/{digest}")
        return answer.status_code == 202

    def _config(self, repository: str, config_digest: str) -> tuple[str, str, str]:
        """os, architecture and created of an image config ("" where it has none)."""
        if not config_digest:
            return "", "", ""
        response = self._http.get(f"{self.url}/v2/{repository}/blobs/{config_digest}")
        if response.status_code != 200:
            return "", "", ""
        try:
            config = json.loads(response.content)
        except ValueError:
            return "", "", ""
        if not isinstance(config, dict):
            return "", "", ""
        return str(config.get("os", "")), str(config.get("architecture", "")), str(config.get("created", ""))
