"""Google Artifact Registry's (and gcr.io's) v2 extension: the `manifest` map in `tags/list`, and tag deletes.

GAR answers `GET /v2/<repo>/tags/list` with the v2 `tags` plus a `manifest` map, digest ->
{`imageSizeBytes`, `layerId`, `mediaType`, `tag`, `timeCreatedMs`, `timeUploadedMs`}, the numbers as
decimal strings (go-containerregistry pkg/v1/google/list.go; registries.md GAR row, G2). It refuses a
digest delete while a tag points at it (400 GOOGLE_MANIFEST_DANGLING_TAG), and deletes a single tag with
`DELETE /v2/<repo>/manifests/<tag>` (genuinetools/reg#136, G3). Everything goes through the v2 session:
auth (basic `oauth2accesstoken` / `_json_key` as Portainer stores it), bounded retries, capped bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tools.errors import BadResponse, NotFound
from tools.registry.media_types import ACCEPT_MANIFESTS
from tools.registry.reference import is_sha256_digest
from tools.registry.session import RegistrySession
from tools.registry.wire import next_link_query, parse_json_object, safe_reference, safe_repository

MAX_PAGES = 10_000  # a registry whose Link never ends must not keep us forever
DANGLING_TAG = "GOOGLE_MANIFEST_DANGLING_TAG"


@dataclass(frozen=True, slots=True)
class GarImage:
    """One entry of the `manifest` map."""

    digest: str
    uploaded: datetime | None  # `timeUploadedMs`: when the manifest was pushed to GAR
    created: datetime | None  # `timeCreatedMs`: the image config's creation time, as GAR read it
    size: int | None  # `imageSizeBytes`
    media_type: str
    tags: tuple[str, ...]


class GarClient:
    """The GAR-specific parts of v2, on one GAR (or gcr.io) host."""

    def __init__(self, session: RegistrySession) -> None:
        self._session = session

    def images(self, repository: str) -> dict[str, GarImage]:
        """The `manifest` map of a repository's tag list, merged over `Link` pages, by digest."""
        path = f"/v2/{safe_repository(repository)}/tags/list"
        query: dict[str, str] = {}
        found: dict[str, GarImage] = {}
        for _ in range(MAX_PAGES):
            response = self._session.request("GET", path, query=query)
            body = parse_json_object(response.content, what=f"GAR tag list of {repository}")
            entries = body.get("manifest")
            if entries is None:
                entries = {}
            if not isinstance(entries, dict):
                raise BadResponse(f"GAR tag list of {repository}: 'manifest' is not a map of digests")
            for digest, entry in entries.items():
                found[digest] = _image(digest, entry, repository)
            next_query = next_link_query(response.headers.get("link", ""))
            if next_query is None or next_query == query or not entries:
                return found
            query = next_query
        raise BadResponse(f"GAR tag list of {repository}: more than {MAX_PAGES} pages")

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Remove one tag (the manifest stays); False when the tag was already gone."""
        if is_sha256_digest(tag):
            raise ValueError("delete_tag takes a tag, never a digest")
        path = f"/v2/{safe_repository(repository)}/manifests/{safe_reference(tag)}"
        try:
            self._session.request("DELETE", path, accept=ACCEPT_MANIFESTS)
        except NotFound:
            return False
        return True


def _image(digest: Any, entry: Any, repository: str) -> GarImage:
    what = f"GAR tag list of {repository}"
    if not isinstance(digest, str) or not is_sha256_digest(digest):
        raise BadResponse(f"{what}: manifest key {str(digest)[:80]!r} is not a sha256 digest")
    if not isinstance(entry, dict):
        raise BadResponse(f"{what}: the entry of {digest} is not an object")
    tags = entry.get("tag") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadResponse(f"{what}: 'tag' of {digest} is not a list of names")
    media_type = entry.get("mediaType") or ""
    if not isinstance(media_type, str):
        raise BadResponse(f"{what}: 'mediaType' of {digest} is not a string")
    return GarImage(
        digest=digest,
        uploaded=_millis(entry.get("timeUploadedMs"), f"{what}: 'timeUploadedMs' of {digest}"),
        created=_millis(entry.get("timeCreatedMs"), f"{what}: 'timeCreatedMs' of {digest}"),
        size=_count(entry.get("imageSizeBytes"), f"{what}: 'imageSizeBytes' of {digest}"),
        media_type=media_type,
        tags=tuple(tags),
    )


def _count(value: Any, what: str) -> int | None:
    """A decimal string (proto3 JSON writes int64 as a string); a plain integer is taken too."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    raise BadResponse(f"{what} is not a count: {str(value)[:40]!r}")


def _millis(value: Any, what: str) -> datetime | None:
    """Milliseconds since the epoch; 0 or absent is "unknown" (GAR writes 0 when it has no time)."""
    count = _count(value, what)
    if not count:
        return None
    try:
        return datetime.fromtimestamp(count / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise BadResponse(f"{what} is out of range: {count}") from None
