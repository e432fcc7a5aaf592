"""A fake Harbor: its `/api/v2.0` routes in front of a real docker-registry (tests/fakes/registry_front.py).

Vendor behaviour and where it comes from (goharbor/harbor; the trimmed spec is
tests/fakes/specs/harbor-swagger-subset.yaml, every answer here is checked against it by `check`):
- REST under `/api/v2.0` with basic auth; 401 with the `Errors` body otherwise (swagger `responses/401`).
  `/systeminfo` answers without credentials (swagger: GeneralInfo, security `{}`).
- Listings paged by `page`/`page_size` with `X-Total-Count` and `Link: <…>; rel="next"` (swagger
  listProjects/listRepositories/listArtifacts headers). `page_cap` makes pages short to exercise paging.
- A repository name inside a path is URL-encoded twice (swagger parameter `repositoryName`).
- A repository whose last artifact was deleted is not listed any more: an assumption of the fake, not read
  in Harbor's code (the crawl treats it like a v2 repository without tags either way).
- Artifacts: `push_time`, `pull_time` (the Go zero time `0001-01-01T00:00:00.000Z` when never pulled),
  `size` = manifest + config + layers, for an index the manifest plus its children (src/controller/
  artifact/manifest/v2.go and index.go), and `references` to an index's children (definition Reference).
- `DELETE …/artifacts/{digest}` deletes the manifest (here: in the real registry) and answers 200; 404
  with `Errors` when the artifact is not there.
- v2: `_catalog` refuses non-admins (goharbor/harbor#7898), a DELETE by tag is UNSUPPORTED
  (src/server/registry/manifest.go); everything else of v2 is the real registry's.
- Retention: `POST /retentions` (201, Location), `POST /retentions/{id}/executions` with `dry_run`
  (201, Location), `GET …/executions/{eid}/tasks`: one task per repository with `total` and `retained`,
  evaluated with the rule templates of src/pkg/retention/policy/rule/* (latestPushedK, latestPulledN,
  nDaysSinceLastPush, nDaysSinceLastPull, always), doublestar selectors, algorithm "or" (the union of
  what the rules retain).
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.portainer_http import Request, Response
from tests.fakes.swagger2 import SwaggerCheck
from tests.fakes.vendor_upstream import Stored, UpstreamView

API = "/api/v2.0"
ZERO_TIME = "0001-01-01T00:00:00.000Z"


def harbor_time(when: dt.datetime | None) -> str:
    """Harbor's JSON time (Go time.Time, UTC, milliseconds)."""
    if when is None:
        return ZERO_TIME
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _errors(status: int, code: str, message: str) -> tuple[int, Any]:
    return status, {"errors": [{"code": code, "message": message}]}


class FakeHarbor:
    """State of one fake Harbor; `route` is the RegistryFront route."""

    def __init__(
        self,
        upstream: str,
        *,
        projects: Iterable[str],
        username: str = "robot$regent",
        password: str = "harbor-secret",
        page_cap: int = 100,
        now: dt.datetime | None = None,
    ) -> None:
        self.upstream = UpstreamView(upstream)
        self.projects = {name: index for index, name in enumerate(projects, start=1)}
        self.authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.page_cap = page_cap
        self.now = now or dt.datetime.now(dt.UTC)
        self.pushed: dict[str, dt.datetime] = {}  # digest -> push_time (default: `now`)
        self.pulled: dict[str, dt.datetime] = {}  # digest -> pull_time (absent: never pulled)
        self.check = SwaggerCheck("harbor-swagger-subset.yaml")
        self.fail_next: list[tuple[int, dict[str, str]]] = []  # (status, headers) answered before routing
        self.policies: dict[int, dict[str, Any]] = {}
        self.executions: dict[int, tuple[int, bool]] = {}  # execution id -> (policy id, dry_run)
        self.tasks: dict[int, list[tuple[dict[str, Any], str]]] = {}  # execution id -> (task, log)
        self.running_polls = 1  # a new execution's tasks say Running this many times first
        self.polls_left: dict[int, int] = {}
        self.deleted_via_api: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    # ----- the route ------------------------------------------------------------------------

    def route(self, request: Request) -> Response | None:
        """Answer Harbor's own routes and its v2 differences; None passes the request to the real registry."""
        if request.path.startswith("/v2/"):
            return self._v2(request)
        if not request.path.startswith(API + "/"):
            return None
        body = json.loads(request.body) if request.body else None
        if self.fail_next:
            status, headers = self.fail_next.pop(0)
            return Response(status, b"", headers)
        status, answer, headers = self._api(request, body)
        self.check.check(request.method, request.path, request.raw_query, body, status, answer)
        if headers.get("Content-Type") == "text/plain":
            return Response(status, str(answer).encode(), headers)
        payload = b"" if answer is None else json.dumps(answer).encode()
        return Response(status, payload, {"Content-Type": "application/json", **headers})

    def _v2(self, request: Request) -> Response | None:
        if request.path == "/v2/_catalog":
            return _json(
                401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized to list catalog"}]}
            )
        if request.method == "DELETE" and "/manifests/" in request.path:
            reference = request.path.rpartition("/manifests/")[2]
            if not reference.startswith("sha256:"):
                message = "DELETE of a tag is not supported; delete the manifest by digest"
                return _json(405, {"errors": [{"code": "UNSUPPORTED", "message": message}]})
        return None

    def _api(self, request: Request, body: Any) -> tuple[int, Any, dict[str, str]]:
        parts = request.path[len(API) + 1 :].split("/")
        method = request.method
        if parts == ["systeminfo"] and method == "GET":
            return 200, {"harbor_version": "v2.13.0-fake", "auth_mode": "db_auth"}, {}
        if request.headers.get("authorization") != self.authorization:
            return (*_errors(401, "UNAUTHORIZED", "unauthorized"), {})
        query = {k: v[0] for k, v in parse_qs(request.raw_query).items()}
        if parts == ["projects"] and method == "GET":
            names = [n for n in sorted(self.projects) if query.get("name") in (None, n)]
            return self._page(request.path, query, [self._project(name) for name in names])
        if len(parts) == 3 and parts[0] == "projects" and parts[2] == "repositories" and method == "GET":
            project = unquote(parts[1])
            if project not in self.projects:
                return (*_errors(404, "NOT_FOUND", f"project {project} not found"), {})
            items = [self._repository(name) for name in self._repositories(project)]
            return self._page(request.path, query, items)
        if (
            len(parts) >= 5
            and parts[0] == "projects"
            and parts[2] == "repositories"
            and parts[4] == "artifacts"
        ):
            return self._artifacts(request, parts, query)
        if parts[0] == "retentions":
            return self._retentions(request, parts, body)
        return (*_errors(404, "NOT_FOUND", "no such route in the fake"), {})

    # ----- projects, repositories, artifacts -------------------------------------------------

    def _project(self, name: str) -> dict[str, Any]:
        project: dict[str, Any] = {
            "project_id": self.projects[name],
            "name": name,
            "repo_count": len(self._repositories(name)),
        }
        bound = [pid for pid, p in self.policies.items() if p["scope"]["ref"] == self.projects[name]]
        if bound:  # Harbor keeps the project's policy id in its metadata (a string)
            project["metadata"] = {"retention_id": str(bound[-1])}
        return project

    def _repositories(self, project: str) -> list[str]:
        return sorted(
            r for r in self.upstream.repositories() if r.startswith(project + "/") and self._tags(r)
        )

    def _tags(self, repository: str) -> dict[str, str]:
        return self.upstream.tags(repository)

    def _repository(self, name: str) -> dict[str, Any]:
        return {
            "id": abs(hash(name)) % 100_000,
            "project_id": self.projects[name.partition("/")[0]],
            "name": name,
            "artifact_count": len(set(self._tags(name).values())),
            "pull_count": 0,
        }

    def _artifacts(
        self, request: Request, parts: list[str], query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        project = unquote(parts[1])
        once = unquote(parts[3])
        if "/" in once:  # encoded only once: Harbor's router would have split it
            return (*_errors(404, "NOT_FOUND", f"repository {once} not found"), {})
        repository = f"{project}/{unquote(once)}"
        if project not in self.projects or repository not in self._repositories(project):
            if request.method == "DELETE":
                return (*_errors(404, "NOT_FOUND", f"artifact {repository} not found"), {})
            return (*_errors(404, "NOT_FOUND", f"repository {repository} not found"), {})
        if len(parts) == 5 and request.method == "GET":
            items = self.artifact_list(repository, with_tag=query.get("with_tag", "true") == "true")
            return self._page(request.path, query, items)
        if len(parts) == 6 and request.method == "DELETE":
            digest = unquote(parts[5])
            stored = self.upstream.manifest(repository, digest)
            if stored is None:
                return (*_errors(404, "NOT_FOUND", f"artifact {repository}@{digest} not found"), {})
            self.upstream.delete(repository, digest)
            with self._lock:
                self.deleted_via_api.append((repository, digest))
            return 200, None, {}
        return (*_errors(405, "METHOD_NOT_ALLOWED", "not in the fake"), {})

    def artifact_list(self, repository: str, *, with_tag: bool = True) -> list[dict[str, Any]]:
        """Harbor's Artifact objects for the repository's tagged manifests, newest push first."""
        by_digest: dict[str, list[str]] = {}
        for tag, digest in sorted(self._tags(repository).items()):
            by_digest.setdefault(digest, []).append(tag)
        items = []
        for digest, tags in by_digest.items():
            stored = self.upstream.manifest(repository, digest)
            if stored is not None:
                items.append(self._artifact(repository, stored, tags if with_tag else []))
        return sorted(items, key=lambda a: (a["push_time"], a["digest"]), reverse=True)

    def size_of(self, repository: str, stored: Stored) -> int:
        """Harbor's artifact size: manifest + config + layers; an index: its manifest + its children."""
        if not stored.is_index:
            return stored.manifest_size + stored.config_size + sum(stored.layer_sizes)
        total = stored.manifest_size
        for child, _, _ in stored.children:
            found = self.upstream.manifest(repository, child)
            total += self.size_of(repository, found) if found is not None else 0
        return total

    def _artifact(self, repository: str, stored: Stored, tags: list[str]) -> dict[str, Any]:
        pushed = harbor_time(self.pushed.get(stored.digest, self.now))
        pulled = harbor_time(self.pulled.get(stored.digest))
        return {
            "id": abs(hash(stored.digest)) % 100_000,
            "type": "IMAGE",
            "media_type": stored.media_type,
            "manifest_media_type": stored.media_type,
            "project_id": self.projects[repository.partition("/")[0]],
            "repository_name": repository,
            "digest": stored.digest,
            "size": self.size_of(repository, stored),
            "push_time": pushed,
            "pull_time": pulled,
            "tags": [
                {"name": tag, "push_time": pushed, "pull_time": pulled, "immutable": False} for tag in tags
            ],
            "references": [
                {"child_digest": child, "platform": {"os": os, "architecture": arch}}
                for child, os, arch in stored.children
            ],
        }

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[int, Any, dict[str, str]]:
        page = max(int(query.get("page", "1")), 1)
        size = min(max(int(query.get("page_size", "10")), 1), 100, self.page_cap)
        chunk = items[(page - 1) * size : page * size]
        headers = {"X-Total-Count": str(len(items))}
        if page * size < len(items):
            rest = {k: v for k, v in query.items() if k not in ("page", "page_size")}
            extra = "".join(f"&{k}={v}" for k, v in rest.items())
            headers["Link"] = f'<{path}?page={page + 1}&page_size={size}{extra}>; rel="next"'
        return 200, chunk, headers

    # ----- retention ----------------------------------------------------------------------

    def _retentions(self, request: Request, parts: list[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if parts == ["retentions"] and request.method == "POST":
                policy_id = len(self.policies) + 1
                self.policies[policy_id] = body
                return 201, None, {"Location": f"{API}/retentions/{policy_id}"}
            if len(parts) == 3 and parts[2] == "executions" and request.method == "POST":
                policy_id = int(parts[1])
                if policy_id not in self.policies:
                    return (*_errors(404, "NOT_FOUND", f"retention {policy_id} not found"), {})
                execution_id = len(self.executions) + 1
                self.executions[execution_id] = (policy_id, bool((body or {}).get("dry_run")))
                self.tasks[execution_id] = self._evaluate(self.policies[policy_id], execution_id)
                self.polls_left[execution_id] = self.running_polls
                return 201, None, {"Location": f"{API}/retentions/{policy_id}/executions/{execution_id}"}
            if len(parts) == 5 and parts[4] == "tasks" and request.method == "GET":
                execution_id = int(parts[3])
                running = self.polls_left.get(execution_id, 0) > 0
                self.polls_left[execution_id] = self.polls_left.get(execution_id, 0) - 1
                tasks = [
                    {**task, "status": "Running" if running else "Success"}
                    for task, _ in self.tasks.get(execution_id, [])
                ]
                return 200, tasks, {"X-Total-Count": str(len(tasks))}
            if len(parts) == 6 and parts[4] == "tasks" and request.method == "GET":
                found = [
                    log for task, log in self.tasks.get(int(parts[3]), []) if task["id"] == int(parts[5])
                ]
                if not found:
                    return (*_errors(404, "NOT_FOUND", "task not found"), {})
                return 200, found[0], {"Content-Type": "text/plain"}
        return (*_errors(404, "NOT_FOUND", "no such retention route in the fake"), {})

    def retained(self, policy: dict[str, Any], repository: str) -> tuple[int, set[str]]:
        """(total, retained digests) of one repository under a policy: the "or" of its rules."""
        artifacts = self.artifact_list(repository)
        kept: set[str] = set()
        for rule in policy.get("rules", []):
            if rule.get("disabled") or not _repo_selected(rule, repository.partition("/")[2]):
                continue
            chosen = [a for a in artifacts if _tags_selected(rule, [t["name"] for t in a["tags"]])]
            kept |= _template(rule, chosen, self.now)
        return len(artifacts), kept

    def _evaluate(self, policy: dict[str, Any], execution_id: int) -> list[tuple[dict[str, Any], str]]:
        """(task, log) per repository some enabled rule selects (launcher.go: no rule, no task)."""
        project = next(name for name, pid in self.projects.items() if pid == policy["scope"]["ref"])
        tasks: list[tuple[dict[str, Any], str]] = []
        for repository in self._repositories(project):
            name = repository.partition("/")[2]
            if not any(not r.get("disabled") and _repo_selected(r, name) for r in policy.get("rules", [])):
                continue
            total, kept = self.retained(policy, repository)
            task = {
                "id": len(tasks) + 1,
                "execution_id": execution_id,
                "repository": name,
                "status": "Success",
                "total": total,
                "retained": len(kept),
            }
            tasks.append((task, self._log(repository, kept)))
        return tasks

    def _log(self, repository: str, kept: set[str]) -> str:
        """The table retention/job.go logResults writes (tablewriter, borders left and right)."""
        header = ["Digest", "Tag", "Kind", "Labels", "PushedTime", "PulledTime", "CreatedTime", "Retention"]
        rows = [header]
        for artifact in self.artifact_list(repository):
            tags = ",".join(t["name"] for t in artifact["tags"])
            mark = "RETAIN" if artifact["digest"] in kept else "DEL"
            row = [
                artifact["digest"],
                tags,
                "image",
                "",
                artifact["push_time"],
                artifact["pull_time"],
                "",
                mark,
            ]
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        stamp = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp} [INFO] [/pkg/retention/job.go:101]: \n" + "\n".join(lines) + "\n"


def _json(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _match(pattern: str, value: str) -> bool:
    # doublestar: `**` crosses slashes, `*` does not; enough of it for repository and tag names
    return fnmatch.fnmatchcase(value, pattern.replace("**", "\0").replace("*", "[!/]*").replace("\0", "*"))


def _repo_selected(rule: dict[str, Any], name: str) -> bool:
    for selector in rule.get("scope_selectors", {}).get("repository", []):
        hit = _match(selector["pattern"], name)
        if hit != (selector.get("decoration") == "repoMatches"):
            return False
    return True


def _tags_selected(rule: dict[str, Any], tags: list[str]) -> bool:
    # selectors/doublestar/selector.go: `matches` takes untagged artifacts unless extras says
    # {"untagged": false}; `excludes` takes them only with {"untagged": false}
    for selector in rule.get("tag_selectors", []):
        matches = selector.get("decoration") == "matches"
        untagged = json.loads(selector.get("extras") or "{}").get("untagged", matches)
        if not tags:
            picked = untagged if matches else not untagged
        elif matches:
            picked = any(_match(selector["pattern"], t) for t in tags)
        else:
            picked = any(not _match(selector["pattern"], t) for t in tags)
        if not picked:
            return False
    return True


def _template(rule: dict[str, Any], artifacts: list[dict[str, Any]], now: dt.datetime) -> set[str]:
    template, params = rule["template"], rule.get("params", {})
    value = int(params.get(template, 0)) if template != "always" else 0

    def when(artifact: dict[str, Any], key: str) -> dt.datetime:
        return dt.datetime.fromisoformat(artifact[key].replace("Z", "+00:00"))

    if template == "always":
        return {a["digest"] for a in artifacts}
    if template in ("latestPushedK", "latestPulledN"):
        key = "push_time" if template == "latestPushedK" else "pull_time"
        ranked = sorted(artifacts, key=lambda a: when(a, key), reverse=True)
        return {a["digest"] for a in ranked[:value]}
    if template in ("nDaysSinceLastPush", "nDaysSinceLastPull"):
        key = "push_time" if template == "nDaysSinceLastPush" else "pull_time"
        cutoff = now - dt.timedelta(days=value)
        return {a["digest"] for a in artifacts if when(a, key) >= cutoff}
    raise ValueError(f"template {template} is not in the fake")
