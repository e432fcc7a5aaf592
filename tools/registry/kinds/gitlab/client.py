"""GitLab's container registry REST API (`/api/v4`, doc/api/container_registry.md) for one project.

Listing repositories, a repository's tags, a tag's detail (digest, `created_at`, `total_size`) and deleting
a tag. Lists page by `page`/`per_page` (at most 100) and say the next page in `X-Next-Page` (empty on the
last one). Authentication is a personal access token in `PRIVATE-TOKEN` (`read_api`; `api` to delete).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tools.errors import BadResponse
from tools.registry.kinds.rest import RestSession, vendor_time
from tools.registry.reference import is_sha256_digest

PAGE_SIZE = "100"  # GitLab's maximum per_page
MAX_PAGES = 10_000  # a server that always says "next" must not keep us forever


@dataclass(frozen=True, slots=True)
class GitlabRepository:
    """A container repository of the project: GitLab's id and its full path (`group/project[/name]`)."""

    id: int
    path: str


@dataclass(frozen=True, slots=True)
class TagDetail:
    """What GitLab says about one tag."""

    name: str
    digest: str
    created: datetime | None
    total_size: int | None


class GitlabProject:
    """The container registry of one GitLab project, by numeric id or full path."""

    def __init__(self, api: RestSession, *, project: str) -> None:
        self.api = api
        self.project = project
        self._base = f"/api/v4/projects/{quote(project, safe='')}/registry/repositories"

    def repositories(self) -> list[GitlabRepository]:
        """Every container repository of the project."""
        found = []
        for item in self._pages(self._base, "container repositories"):
            repository_id, path = item.get("id"), item.get("path")
            if not isinstance(repository_id, int) or not isinstance(path, str) or not path:
                raise BadResponse(f"GitLab project {self.project}: a repository without an id or path")
            found.append(GitlabRepository(repository_id, path))
        return found

    def tag_names(self, repository: GitlabRepository) -> list[str]:
        """Names of the repository's tags."""
        names = []
        for item in self._pages(f"{self._base}/{repository.id}/tags", f"tags of {repository.path}"):
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise BadResponse(f"GitLab tags of {repository.path}: a tag without a name")
            names.append(name)
        return names

    def tag(self, repository: GitlabRepository, name: str) -> TagDetail | None:
        """A tag's digest, creation time and size; None when the tag is gone."""
        answer = self.api.request("GET", self._tag_path(repository, name), missing_ok=True)
        if answer is None:
            return None
        body = answer.json(f"GitLab tag {repository.path}:{name}")
        return _detail(body, f"{repository.path}:{name}")

    def delete_tag(self, repository: GitlabRepository, name: str) -> bool:
        """Delete one tag (not the manifest); False when it was already gone."""
        return self.api.request("DELETE", self._tag_path(repository, name), missing_ok=True) is not None

    def _tag_path(self, repository: GitlabRepository, name: str) -> str:
        return f"{self._base}/{repository.id}/tags/{quote(name, safe='')}"

    def _pages(self, path: str, what: str) -> Iterator[dict[str, Any]]:
        """Items of a listing, page after page while `X-Next-Page` names one."""
        page = "1"
        for _ in range(MAX_PAGES):
            body, answer = self.api.get_json(path, query={"per_page": PAGE_SIZE, "page": page})
            if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
                raise BadResponse(f"GitLab {what}: the answer is not a list of objects")
            yield from body
            page = answer.headers.get("x-next-page", "").strip()
            if not page.isdigit() or not body:
                return
        raise BadResponse(f"GitLab {what}: more than {MAX_PAGES} pages")


def _detail(body: object, where: str) -> TagDetail:
    if not isinstance(body, dict):
        raise BadResponse(f"GitLab tag {where}: the answer is not an object")
    name, digest, size = body.get("name"), body.get("digest"), body.get("total_size")
    if not isinstance(name, str) or not isinstance(digest, str) or not is_sha256_digest(digest):
        raise BadResponse(f"GitLab tag {where}: no name or no sha256 digest")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BadResponse(f"GitLab tag {where}: total_size is not a byte count")
    return TagDetail(
        name=name,
        digest=digest,
        created=vendor_time(body.get("created_at"), what=f"GitLab tag {where}: created_at"),
        total_size=size,
    )
