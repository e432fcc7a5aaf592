"""What a vendor fake reads off the real docker-registry behind it: repositories, tags, manifests, sizes.

The vendor fakes (Harbor, Quay) answer their REST listings from the real registry's current state, so a
delete through v2 or through the vendor path shows in the next listing, as on the real product.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
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


class UpstreamView:
    """Reads the real registry at `url` (no auth: the test registry has none)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def repositories(self) -> list[str]:
        """The real catalog."""
        body = httpx.get(f"{self.url}/v2/_catalog", params={"n": "1000"}).json()
        return list(body.get("repositories") or [])

    def tags(self, repository: str) -> dict[str, str]:
        """tag -> digest of one repository, as the real registry has them now."""
        answer = httpx.get(f"{self.url}/v2/{repository}/tags/list")
        if answer.status_code == 404:
            return {}
        found: dict[str, str] = {}
        for tag in answer.json().get("tags") or []:
            head = httpx.head(f"{self.url}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT})
            if head.status_code == 200:
                found[tag] = head.headers["docker-content-digest"]
        return found

    def manifest(self, repository: str, digest: str) -> Stored | None:
        """A manifest with the sizes of its config and layers; None when gone."""
        answer = httpx.get(f"{self.url}/v2/{repository}/manifests/{digest}", headers={"Accept": ACCEPT})
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
        answer = httpx.delete(f"{self.url}/v2/{repository}/manifests/{digest}")
        return answer.status_code == 202
