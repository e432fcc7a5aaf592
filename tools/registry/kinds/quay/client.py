"""Quay's REST API (`/api/v1`; quay/quay endpoints/api/repository.py and tag.py): repositories of a
namespace, a repository's active tags with their times and sizes, tag deletes.

Authentication is an OAuth bearer token (an application token, or a robot's token where the instance
allows it): the adapter passes `extra["api_token"]` when the registry's config has one, else the password
Portainer stores. Repository listings are paged by an opaque `next_page` token; tag listings by `page` and
`limit` (at most 100) with `has_additional`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from tools.errors import BadResponse
from tools.registry.kinds.rest import RestAnswer, RestSession
from tools.registry.wire import safe_repository

TAG_PAGE = 100  # Quay's maximum `limit` (ListRepositoryTags)
MAX_PAGES = 10_000  # a server that keeps saying "more" must not keep us here forever


@dataclass(frozen=True, slots=True)
class QuayTag:
    """One tag as Quay lists it."""

    name: str
    manifest_digest: str
    start: datetime | None  # `start_ts`: when the tag was pointed at this manifest
    end: datetime | None  # `end_ts`: when it stopped (a deleted or moved tag, in the time machine)
    size: int | None  # `size`: the manifest's compressed layers (no config, no manifest); None for lists
    is_manifest_list: bool


def _quay_error(body: Any) -> str:
    """Quay's ApiError: {"status", "title", "detail", "error_message", ...}."""
    if isinstance(body, dict):
        for key in ("detail", "error_message", "message", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])[:300]
    return ""


def _timestamp(value: object, *, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadResponse(f"Quay {what}: {value!r} is not a Unix time")
    return datetime.fromtimestamp(value, UTC)


class QuayApi:
    """The calls Regent makes to one Quay's `/api/v1`."""

    def __init__(self, api_url: str, *, http: httpx.Client, token: str | None) -> None:
        self._rest = RestSession(
            api_url.rstrip("/") + "/api/v1",
            http=http,
            vendor="Quay",
            authorization=f"Bearer {token}" if token else None,
            error_text=_quay_error,
            secrets=[token] if token else [],
        )

    @property
    def requests(self) -> Counter[str]:
        """REST requests sent so far, by method."""
        return self._rest.requests

    def repositories(self, namespace: str) -> list[str]:
        """Full names (`namespace/name`) of the namespace's repositories the token may see."""
        names: list[str] = []
        query = {"namespace": namespace}
        for _ in range(MAX_PAGES):
            body = self._get("/repository", query).json(f"Quay repositories of {namespace}")
            page = body.get("repositories") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise BadResponse(f"Quay repositories of {namespace}: no 'repositories' list")
            for repo in page:
                if not isinstance(repo, dict) or repo.get("namespace") != namespace:
                    raise BadResponse(f"Quay repositories of {namespace}: an entry of another namespace")
                if not isinstance(repo.get("name"), str):
                    raise BadResponse(f"Quay repositories of {namespace}: an entry without a name")
                names.append(f"{namespace}/{repo['name']}")
            token = body.get("next_page")
            if not token or not page:
                return names
            query = {"namespace": namespace, "next_page": str(token)}
        raise BadResponse(f"Quay repositories of {namespace}: more than {MAX_PAGES} pages")

    def active_tags(self, repository: str) -> list[QuayTag]:
        """Every tag of the repository that is alive now (`onlyActiveTags=true`)."""
        return list(self._tags(repository, {"onlyActiveTags": "true"}))

    def tag_history(self, repository: str, tag: str) -> list[QuayTag]:
        """Every lifetime of one tag name, dead ones included (`specificTag=`): the time machine's view."""
        return list(self._tags(repository, {"specificTag": tag}))

    def delete_tag(self, repository: str, tag: str) -> bool:
        """`DELETE …/tag/{tag}`: the tag ends now (restorable until the namespace's expiry); False if gone."""
        path = f"/repository/{safe_repository(repository)}/tag/{quote(tag, safe='')}"
        return self._rest.request("DELETE", path, missing_ok=True) is not None

    def _tags(self, repository: str, query: dict[str, str]) -> Iterator[QuayTag]:
        path = f"/repository/{safe_repository(repository)}/tag/"
        for number in range(1, MAX_PAGES + 1):
            page_query = {**query, "page": str(number), "limit": str(TAG_PAGE)}
            body = self._get(path, page_query).json(f"Quay tags of {repository}")
            tags = body.get("tags") if isinstance(body, dict) else None
            if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
                raise BadResponse(f"Quay tags of {repository}: no 'tags' list")
            yield from (_tag(item, repository) for item in tags)
            if not body.get("has_additional") or not tags:
                return
        raise BadResponse(f"Quay tags of {repository}: more than {MAX_PAGES} pages")

    def _get(self, path: str, query: dict[str, str]) -> RestAnswer:
        answer = self._rest.request("GET", path, query=query)
        assert answer is not None  # only missing_ok requests answer None
        return answer


def _tag(item: dict[str, Any], repository: str) -> QuayTag:
    name, digest, size = item.get("name"), item.get("manifest_digest"), item.get("size")
    if not isinstance(name, str) or not isinstance(digest, str):
        raise BadResponse(f"Quay tags of {repository}: a tag without name or manifest_digest")
    return QuayTag(
        name=name,
        manifest_digest=digest,
        start=_timestamp(item.get("start_ts"), what=f"start_ts of {repository}:{name}"),
        end=_timestamp(item.get("end_ts"), what=f"end_ts of {repository}:{name}"),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        is_manifest_list=bool(item.get("is_manifest_list")),
    )
