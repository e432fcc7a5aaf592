"""GitHub's REST packages API for container packages: list packages, list versions, delete a version.

GHCR's v2 API has no catalog and refuses deletes (405 UNSUPPORTED); GitHub's REST API has both
(docs.github.com/rest/packages). A container package version's `name` is the manifest digest, its
`created_at` is when that manifest was pushed, and `metadata.container.tags` the tags on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from tools.errors import BadResponse
from tools.registry.kinds.rest import RestSession, vendor_time
from tools.registry.reference import is_sha256_digest

PAGE_SIZE = "100"  # GitHub's maximum per_page
MAX_PAGES = 10_000  # a server that always says "next" must not keep us forever


@dataclass(frozen=True, slots=True)
class PackageVersion:
    """One version of a container package: a manifest digest, when it was pushed, its tags."""

    id: int
    digest: str
    created: datetime | None
    updated: datetime | None
    tags: tuple[str, ...]


class GithubPackages:
    """The container packages of one GitHub user or organisation."""

    def __init__(self, api: RestSession, *, owner: str, organisation: bool) -> None:
        self.api = api
        self.owner = owner
        self._base = f"/orgs/{quote(owner, safe='')}" if organisation else f"/users/{quote(owner, safe='')}"

    def packages(self) -> list[str]:
        """Names of every container package the owner has (that the token may see)."""
        names: list[str] = []
        for item in self._pages(f"{self._base}/packages", {"package_type": "container"}, "packages"):
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise BadResponse(f"GitHub packages of {self.owner}: a package without a name")
            names.append(name)
        return names

    def versions(self, package: str) -> list[PackageVersion]:
        """Every version of one container package, tagged or not."""
        path = self._versions_path(package)
        return [_version(item, package) for item in self._pages(path, {}, f"versions of {package}")]

    def delete_version(self, package: str, version_id: int) -> bool:
        """Delete one package version; False when it was already gone (404)."""
        answer = self.api.request("DELETE", f"{self._versions_path(package)}/{version_id}", missing_ok=True)
        return answer is not None

    def _versions_path(self, package: str) -> str:
        return f"{self._base}/packages/container/{quote(package, safe='')}/versions"

    def _pages(self, path: str, query: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
        """Items of a listing, following `Link: <…?page=N>; rel="next"` on our own path only."""
        params = {**query, "per_page": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            body, answer = self.api.get_json(path, query=params)
            if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
                raise BadResponse(f"GitHub {what}: the answer is not a list of objects")
            yield from body
            page = _next_page(answer.headers.get("link", ""))
            if page is None or not body:
                return
            params = {**params, "page": page}
        raise BadResponse(f"GitHub {what}: more than {MAX_PAGES} pages")


def _next_page(link: str) -> str | None:
    """The `page` of the rel="next" link, or None; the link's host and path are never followed."""
    for part in link.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            target = part[part.index("<") + 1 : part.index(">")]
            page = dict(parse_qsl(urlsplit(target).query)).get("page", "")
            return page if page.isdigit() else None
    return None


def _version(item: dict[str, Any], package: str) -> PackageVersion:
    """A package version from its JSON; BadResponse for one that is not a container version."""
    version_id, digest = item.get("id"), item.get("name")
    if not isinstance(version_id, int) or not isinstance(digest, str) or not is_sha256_digest(digest):
        raise BadResponse(f"GitHub versions of {package}: a version without an id or a digest name")
    metadata = item.get("metadata")
    container = metadata.get("container") if isinstance(metadata, dict) else None
    tags = container.get("tags") if isinstance(container, dict) else []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise BadResponse(f"GitHub versions of {package}: version {version_id} has bad tags")
    return PackageVersion(
        id=version_id,
        digest=digest,
        created=vendor_time(item.get("created_at"), what=f"GitHub versions of {package}: created_at"),
        updated=vendor_time(item.get("updated_at"), what=f"GitHub versions of {package}: updated_at"),
        tags=tuple(tags),
    )
