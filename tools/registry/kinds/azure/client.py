"""ACR's `/acr/v1` metadata API: manifest attributes (created/updated times, sizes, tags) and tag deletes.

It lives on the registry host and takes the same token as v2 (ACR's `/oauth2/token`, reached through the
v2 Bearer challenge with Portainer's username and password), so it sends through the v2 client's session:
auth, bounded retries that honour `Retry-After`, capped bodies and error translation are the v2 client's.
Shapes: azure-rest-api-specs, containerregistry data-plane 2021-07-01 (`AcrManifests`,
`ManifestAttributes`, `ManifestAttributesBase`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tools.errors import BadResponse, NotFound
from tools.registry.reference import is_sha256_digest
from tools.registry.session import RegistrySession
from tools.registry.wire import (
    next_link_query,
    parse_json_object,
    safe_digest,
    safe_reference,
    safe_repository,
)

MANIFEST_PAGE = 100  # asked per page (`n`); ACR may send fewer, and links the next page either way
MAX_PAGES = 10_000  # a registry whose Link never ends must not keep us forever


@dataclass(frozen=True, slots=True)
class AcrManifest:
    """One manifest as `/acr/v1/{name}/_manifests` describes it."""

    digest: str
    created: datetime  # `createdTime`: when the manifest was pushed
    updated: datetime  # `lastUpdateTime`: the manifest's last change (a tag added or moved)
    size: int | None  # `imageSize`; absent for some artifact types
    tags: tuple[str, ...]


class AcrClient:
    """The `/acr/v1` routes Regent uses, on one ACR registry host."""

    def __init__(self, session: RegistrySession, *, page_size: int = MANIFEST_PAGE) -> None:
        self._session = session
        self._page = max(1, page_size)

    def manifests(self, repository: str) -> list[AcrManifest]:
        """Every manifest of a repository (tagged or not), following `Link` pages."""
        path = f"/acr/v1/{safe_repository(repository)}/_manifests"
        query: dict[str, str] = {"n": str(self._page)}
        found: list[AcrManifest] = []
        seen_queries: set[tuple[tuple[str, str], ...]] = set()
        for _ in range(MAX_PAGES):
            response = self._session.request("GET", path, query=query)
            body = parse_json_object(response.content, what=f"ACR manifests of {repository}")
            page = body.get("manifests") or []
            if not isinstance(page, list):
                raise BadResponse(f"ACR manifests of {repository}: 'manifests' is not a list")
            found.extend(_manifest(item, repository) for item in page)
            next_query = next_link_query(response.headers.get("link", ""))
            if next_query is None or not page:
                return found
            key = tuple(sorted(next_query.items()))
            if key in seen_queries:  # a Link that points back would loop forever
                raise BadResponse(f"ACR manifests of {repository}: the next-page link repeats itself")
            seen_queries.add(key)
            query = next_query
        raise BadResponse(f"ACR manifests of {repository}: more than {MAX_PAGES} pages")

    def manifest(self, repository: str, digest: str) -> AcrManifest | None:
        """One manifest's attributes; None when the repository has no such manifest."""
        path = f"/acr/v1/{safe_repository(repository)}/_manifests/{safe_digest(digest)}"
        try:
            response = self._session.request("GET", path)
        except NotFound:
            return None
        body = parse_json_object(response.content, what=f"ACR manifest {repository}@{digest}")
        return _manifest(body.get("manifest"), repository)

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Delete one tag (v2 cannot delete tags on ACR); False when it was already gone."""
        if is_sha256_digest(tag):
            raise ValueError("delete_tag takes a tag, never a digest")
        path = f"/acr/v1/{safe_repository(repository)}/_tags/{safe_reference(tag)}"
        try:
            self._session.request("DELETE", path)
        except NotFound:
            return False
        return True


def _manifest(item: Any, repository: str) -> AcrManifest:
    what = f"ACR manifest in {repository}"
    if not isinstance(item, dict):
        raise BadResponse(f"{what}: not an object")
    digest = item.get("digest")
    if not isinstance(digest, str) or not is_sha256_digest(digest):
        raise BadResponse(f"{what}: 'digest' is not a sha256 digest")
    size = item.get("imageSize")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BadResponse(f"{what} {digest}: 'imageSize' is not a byte count")
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadResponse(f"{what} {digest}: 'tags' is not a list of names")
    return AcrManifest(
        digest=digest,
        created=_time(item.get("createdTime"), f"{what} {digest}: 'createdTime'"),
        updated=_time(item.get("lastUpdateTime"), f"{what} {digest}: 'lastUpdateTime'"),
        size=size,
        tags=tuple(tags),
    )


def _time(value: Any, what: str) -> datetime:
    """An RFC 3339 time as ACR writes it (seven fractional digits, `Z`), as an aware UTC datetime."""
    if not isinstance(value, str):
        raise BadResponse(f"{what} is missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadResponse(f"{what} is not a date-time: {value[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
