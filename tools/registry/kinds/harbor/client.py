"""Harbor's REST API (`/api/v2.0`, goharbor/harbor api/v2.0/swagger.yaml): projects, repositories,
artifacts with their push and pull times, artifact deletes, and dry runs of stored retention policies
(storing or really running a policy is the operator's, in Harbor: no call here does either).

Basic auth as a user or a robot account, the credentials Portainer stores for the registry. Listings are
paged with `page`/`page_size` (at most 100) and a `Link: <…>; rel="next"` header. A repository name under
its project goes into a path encoded twice (swagger `repositoryName`: a/b -> a%2Fb -> a%252Fb).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from tools.errors import BadResponse, RegentError
from tools.registry.auth import basic_authorization
from tools.registry.kinds.rest import RestAnswer, RestSession, next_link, vendor_time
from tools.registry.wire import safe_digest

PAGE_SIZE = 100  # Harbor's maximum (swagger `pageSize`)
MAX_PAGES = 10_000  # a server that keeps sending `rel="next"` must not keep us here forever
# Harbor's Go zero time: what `pull_time` says of an artifact never pulled.
ZERO_TIME_YEAR = 1


@dataclass(frozen=True, slots=True)
class HarborProject:
    """A project (the first path component of every repository name)."""

    name: str
    project_id: int


@dataclass(frozen=True, slots=True)
class HarborArtifact:
    """An artifact as listed: its digest, size, clocks, tags and the child digests of an index."""

    digest: str
    size: int | None
    push_time: datetime | None
    pull_time: datetime | None  # None: never pulled (Harbor's zero time) or not said
    tags: tuple[str, ...]
    children: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RetentionTask:
    """One repository's task of a retention execution: how many artifacts it saw and kept."""

    task_id: int
    repository: str  # the name within the project
    status: str  # Harbor's job status: Pending, Running, Success, Error, Stopped
    total: int
    retained: int


def _harbor_error(body: Any) -> str:
    """Harbor's `Errors` definition: {"errors": [{"code", "message"}]}."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        parts = [
            f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
            for e in body["errors"]
            if isinstance(e, dict)
        ]
        return "; ".join(parts)[:300]
    return ""


def repository_path(repository: str) -> str:
    """`project/rest/of/name` -> `/projects/project/repositories/rest%252Fof%252Fname` (swagger rule)."""
    project, _, name = repository.partition("/")
    if not project or not name:
        raise BadResponse(f"Harbor repository {repository!r} has no project part (project/name)")
    return f"/projects/{quote(project, safe='')}/repositories/{quote(quote(name, safe=''), safe='')}"


def parse_time(value: object, *, what: str) -> datetime | None:
    """An RFC 3339 time as Harbor writes it; None for absent and for the zero time (never)."""
    parsed = vendor_time(value, what=f"Harbor {what}", naive="utc")
    return None if parsed is None or parsed.year == ZERO_TIME_YEAR else parsed


class HarborApi:
    """The calls Regent makes to one Harbor's `/api/v2.0`."""

    def __init__(
        self,
        api_url: str,
        *,
        http: httpx.Client,
        username: str | None,
        password: str | None,
        page_size: int = PAGE_SIZE,
        attempts: int = 4,
    ) -> None:
        auth = basic_authorization(username, password) if username and password is not None else None
        self._rest = RestSession(
            api_url.rstrip("/") + "/api/v2.0",
            http=http,
            vendor="Harbor",
            authorization=auth,
            error_text=_harbor_error,
            attempts=attempts,
            secrets=[password] if password else [],
        )
        self._page_size = min(max(page_size, 1), PAGE_SIZE)

    @property
    def requests(self) -> Counter[str]:
        """REST requests sent so far, by method."""
        return self._rest.requests

    def systeminfo(self) -> dict[str, Any]:
        """`GET /systeminfo` (GeneralInfo): answers on every Harbor, even without credentials."""
        body = self._get("/systeminfo").json("Harbor systeminfo")
        if not isinstance(body, dict):
            raise BadResponse("Harbor systeminfo: not an object")
        return body

    def projects(self) -> list[HarborProject]:
        """Every project the credentials may see."""
        found: list[HarborProject] = []
        for item in self._pages("/projects", {"with_detail": "false"}, "projects"):
            name, project_id = item.get("name"), item.get("project_id")
            if not isinstance(name, str) or not isinstance(project_id, int):
                raise BadResponse("Harbor projects: an entry without name or project_id")
            found.append(HarborProject(name, project_id))
        return found

    def repositories(self, project: str) -> list[str]:
        """Full names (`project/name`) of a project's repositories."""
        names: list[str] = []
        path = f"/projects/{quote(project, safe='')}/repositories"
        for item in self._pages(path, {}, f"repositories of {project}"):
            name = item.get("name")
            if not isinstance(name, str) or not name.startswith(project + "/"):
                raise BadResponse(f"Harbor repositories of {project}: a name outside the project")
            names.append(name)
        return names

    def artifacts(self, repository: str) -> list[HarborArtifact]:
        """Every artifact of a repository, with its tags (`with_tag=true`)."""
        path = repository_path(repository) + "/artifacts"
        query = {"with_tag": "true", "with_label": "false", "with_scan_overview": "false"}
        return [
            _artifact(item, repository) for item in self._pages(path, query, f"artifacts of {repository}")
        ]

    def delete_artifact(self, repository: str, digest: str) -> bool:
        """`DELETE …/artifacts/{digest}`; False when Harbor says it is not there (404)."""
        path = f"{repository_path(repository)}/artifacts/{safe_digest(digest)}"
        return self._rest.request("DELETE", path, missing_ok=True) is not None

    def dry_run_retention(self, policy_id: int) -> int:
        """`POST /retentions/{id}/executions` with `dry_run: true`, fixed here (never a parameter), so this
        client cannot start a retention run that deletes; the execution id from the `Location` header."""
        answer = self._rest.request("POST", f"/retentions/{policy_id}/executions", body={"dry_run": True})
        assert answer is not None
        return _id_from_location(answer, "retention execution")

    def retention_tasks(self, policy_id: int, execution_id: int) -> list[RetentionTask]:
        """The tasks (one per repository) of a retention execution."""
        tasks: list[RetentionTask] = []
        path = f"/retentions/{policy_id}/executions/{execution_id}/tasks"
        for item in self._pages(path, {}, "retention tasks"):
            task_id, repository = item.get("id"), item.get("repository")
            total, retained = item.get("total"), item.get("retained")
            if not (isinstance(task_id, int) and isinstance(total, int) and isinstance(retained, int)):
                raise BadResponse("Harbor retention tasks: a task without id, total or retained")
            if not isinstance(repository, str):
                raise BadResponse("Harbor retention tasks: a task without its repository")
            tasks.append(RetentionTask(task_id, repository, str(item.get("status", "")), total, retained))
        return tasks

    def retention_task_log(self, policy_id: int, execution_id: int, task_id: int) -> str:
        """A task's log: Harbor writes each candidate's decision in it as a table (retention/job.go)."""
        answer = self._get(f"/retentions/{policy_id}/executions/{execution_id}/tasks/{task_id}")
        return answer.body.decode("utf-8", "replace")

    def project_retention_id(self, project: str) -> int | None:
        """The id of the retention policy stored for a project (`metadata.retention_id`), if any."""
        query = {"name": project, "with_detail": "true"}
        for item in self._pages("/projects", query, f"project {project}"):
            if item.get("name") == project:
                metadata = item.get("metadata") or {}
                found = metadata.get("retention_id") if isinstance(metadata, dict) else None
                return int(found) if isinstance(found, str) and found.isdigit() else None
        return None

    def _get(self, path: str, query: dict[str, str] | None = None) -> RestAnswer:
        answer = self._rest.request("GET", path, query=query)
        assert answer is not None  # only missing_ok requests answer None
        return answer

    def _pages(self, path: str, query: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
        page_query = {**query, "page": "1", "page_size": str(self._page_size)}
        for _ in range(MAX_PAGES):
            answer = self._get(path, page_query)
            items = answer.json(f"Harbor {what}")
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise BadResponse(f"Harbor {what}: not a list of objects")
            yield from items
            target = next_link(answer.headers)
            if target is None or not items:
                return
            page_query = dict(parse_qsl(urlsplit(target).query))
        raise BadResponse(f"Harbor {what}: more than {MAX_PAGES} pages")


def _artifact(item: dict[str, Any], repository: str) -> HarborArtifact:
    digest = item.get("digest")
    if not isinstance(digest, str):
        raise BadResponse(f"Harbor artifacts of {repository}: an artifact without a digest")
    size = item.get("size")
    tags = item.get("tags") or []
    references = item.get("references") or []
    if not isinstance(tags, list) or not isinstance(references, list):
        raise BadResponse(f"Harbor artifact {digest}: tags or references is not a list")
    return HarborArtifact(
        digest=digest,
        size=size if isinstance(size, int) and size >= 0 else None,
        push_time=parse_time(item.get("push_time"), what=f"push_time of {digest}"),
        pull_time=parse_time(item.get("pull_time"), what=f"pull_time of {digest}"),
        tags=tuple(t["name"] for t in tags if isinstance(t, dict) and isinstance(t.get("name"), str)),
        children=tuple(
            r["child_digest"]
            for r in references
            if isinstance(r, dict) and isinstance(r.get("child_digest"), str)
        ),
    )


def _id_from_location(answer: RestAnswer, what: str) -> int:
    """Harbor answers a create with 201 and `Location: /api/v2.0/…/{id}` (swagger `responses/201`)."""
    tail = answer.headers.get("location", "").rstrip("/").rpartition("/")[2]
    if not tail.isdigit():
        raise BadResponse(f"Harbor created a {what} but its Location header names no id")
    return int(tail)


def is_harbor(url: str, *, http: httpx.Client) -> bool:
    """One probe for a Custom record: does `GET /api/v2.0/systeminfo` answer like Harbor (`harbor_version`)?

    The route needs no credentials on Harbor (swagger: getSystemInfo); a plain registry answers 404. Any
    failure says "not Harbor": a probe must never stop a crawl.
    """
    try:
        info = HarborApi(url, http=http, username=None, password=None, attempts=1).systeminfo()
    except RegentError:
        return False
    return isinstance(info.get("harbor_version"), str)
