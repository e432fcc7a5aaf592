"""A fake GitLab (REST `/api/v4` container registry routes) in front of a real docker-registry.

Vendor behaviour and where it is written down (gitlabhq; schemas in
tests/fakes/specs/gitlab-openapi-v2-registry.trimmed.yaml):
- doc/api/container_registry.md, lib/api/project_container_repositories.rb: a project's repositories at
  `GET /api/v4/projects/:id/registry/repositories` (`:id` the numeric id or the URL-encoded full path),
  their tags at `…/:repository_id/tags`, a tag's detail at `…/tags/:tag_name`, `DELETE …/tags/:tag_name`
  answering 204. Lists page by `page`/`per_page` (default 20, at most 100) with `X-Page`, `X-Per-Page`,
  `X-Next-Page` (empty on the last page), `X-Total`, `X-Total-Pages` and a `Link` header. A missing or
  wrong `PRIVATE-TOKEN` gets 401 `{"message": "401 Unauthorized"}`; an unknown tag 404 "404 Tag Not Found".
- lib/container_registry/tag.rb: a tag's `created_at` is what GitLab's own registry API says (when the
  manifest was created there) or, for a third-party registry, the image config's `created`; the fake gives
  `pushed[digest]` when a test set one, else the config's `created`. `total_size` is the sum of the layer
  sizes; `revision` is the config digest's hex, `short_revision` its first 9 characters.
- app/services/projects/container_repository/third_party/delete_tags_service.rb: with a registry that cannot
  delete a tag, GitLab points the tag at a dummy image and deletes that by digest; the fake does the same
  against the real registry behind it, so the tagged manifest stays, untagged, as it does on GitLab.
- Without a token GitLab's REST API returns only public data (doc/api/rest/authentication.md), so a
  public project's registry API answers reads anonymously; changes always need a token.
- The v2 catalog is for GitLab administrators only (registries.md L1): `/v2/_catalog` answers 401 here.
- GitLab sends `null` for unset fields (`cleanup_policy_started_at`, `status`); the published Swagger 2.0
  has no way to say a field may be null, so the fake leaves such fields out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.registry_front import RegistryFront
from tests.fakes.spec_exchanges import Exchange
from tools.registry.media_types import ACCEPT_MANIFESTS

_ROUTE = re.compile(r"^/api/v4/projects/([^/]+)/registry/repositories(?:/(\d+)(?:/tags(?:/([^/]+))?)?)?$")
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


@dataclass
class GitlabState:
    """One project and its container repositories; tests register repositories and push times."""

    project_id: int
    project_path: str
    token: str
    repositories: dict[str, int] = field(default_factory=dict)  # full path -> repository id
    pushed: dict[str, dt.datetime] = field(default_factory=dict)  # digest -> created_at GitLab reports
    exchanges: list[Exchange] = field(default_factory=list)


class FakeGitlab(RegistryFront):
    """GitLab's container registry REST routes and the v2 API of the registry behind, on one port."""

    def __init__(
        self, upstream: str, *, project_id: int, project_path: str, token: str = "glpat-test"
    ) -> None:
        self.state = GitlabState(project_id=project_id, project_path=project_path, token=token)
        self.page_cap = 100  # GitLab's maximum per_page; tests lower it to see paging
        self.public = False  # a public project's registry API answers reads without a token
        self.queued: list[Response] = []  # canned off-spec answers (throttling, garbage), sent first
        super().__init__(upstream, self._answer)

    def add_repository(self, path: str) -> int:
        """Register a repository (full path, under the project's path) and return its id."""
        return self.state.repositories.setdefault(path, 100 + len(self.state.repositories))

    def _answer(self, request: Request) -> Response | None:
        if request.path == "/v2/_catalog":
            return json_response(
                401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
            )
        if not request.path.startswith("/api/v4/"):
            return None
        if self.queued:
            return self.queued.pop(0)
        response = self._rest(request)
        self.state.exchanges.append(Exchange.of(request, response))
        return response

    def _rest(self, request: Request) -> Response:
        token = request.headers.get("private-token")
        anonymous_read = token is None and self.public and request.method == "GET"
        if token != self.state.token and not anonymous_read:
            return json_response(401, {"message": "401 Unauthorized"})
        match = _ROUTE.match(request.path)
        project = unquote(match.group(1)) if match else ""
        if match is None or project not in (str(self.state.project_id), self.state.project_path):
            return json_response(404, {"message": "404 Project Not Found"})
        repository_id, tag = match.group(2), match.group(3)
        if repository_id is None:
            if request.method != "GET":
                return json_response(405, {"message": "405 Method Not Allowed"})
            items = [self._repository(path, rid) for path, rid in sorted(self.state.repositories.items())]
            return self._page(request, items)
        path = next((p for p, rid in self.state.repositories.items() if str(rid) == repository_id), None)
        if path is None:
            return json_response(404, {"message": "404 Repository Not Found"})
        if tag is None and request.method == "GET":
            return self._page(request, [self._tag(path, name) for name in self._tag_names(path)])
        if tag is not None and request.method == "GET":
            return self._tag_detail(path, unquote(tag))
        if tag is not None and request.method == "DELETE":
            return self._delete_tag(path, unquote(tag))
        return json_response(405, {"message": "405 Method Not Allowed"})

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        per_page = min(max(int(request.arg("per_page") or 20), 1), self.page_cap)
        page = max(int(request.arg("page") or 1), 1)
        pages = max((len(items) + per_page - 1) // per_page, 1)
        base = f"{self.url}{request.path}?per_page={per_page}"
        links = [f'<{base}&page={page + 1}>; rel="next"'] if page < pages else []
        links += [f'<{base}&page=1>; rel="first"', f'<{base}&page={pages}>; rel="last"']
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "Link": ", ".join(links),
        }
        return json_response(200, items[(page - 1) * per_page : page * per_page], headers)

    def _repository(self, path: str, repository_id: int) -> dict[str, Any]:
        name = path.removeprefix(self.state.project_path).strip("/")
        return {
            "id": repository_id,
            "name": name,
            "path": path,
            "project_id": self.state.project_id,
            "location": f"{urlsplit(self.url).netloc}/{path}",
            "created_at": "2026-01-05T10:00:00.000Z",
        }

    def _tag(self, path: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "path": f"{path}:{name}",
            "location": f"{urlsplit(self.url).netloc}/{path}:{name}",
        }

    def _tag_names(self, path: str) -> list[str]:
        listing = self.forward(Request("GET", f"/v2/{path}/tags/list", "", {}, b""))
        return sorted(json.loads(listing.body).get("tags") or []) if listing.status == 200 else []

    def _tag_detail(self, path: str, name: str) -> Response:
        manifest = self.forward(
            Request("GET", f"/v2/{path}/manifests/{name}", "", {"accept": ACCEPT_MANIFESTS}, b"")
        )
        if manifest.status != 200:
            return json_response(404, {"message": "404 Tag Not Found"})
        digest = manifest.headers.get("Docker-Content-Digest", "")
        document = json.loads(manifest.body)
        config = document.get("config") or {}
        created = self.state.pushed.get(digest) or self._config_created(path, config.get("digest", ""))
        revision = str(config.get("digest", "")).removeprefix("sha256:")
        detail = {
            **self._tag(path, name),
            "revision": revision,
            "short_revision": revision[:9],
            "digest": digest,
            "total_size": sum(int(layer.get("size", 0)) for layer in document.get("layers") or []),
        }
        if created is not None:
            detail["created_at"] = (
                created.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
        return json_response(200, detail)

    def _config_created(self, path: str, config_digest: str) -> dt.datetime | None:
        if not config_digest:
            return None
        blob = self.forward(Request("GET", f"/v2/{path}/blobs/{config_digest}", "", {}, b""))
        created = json.loads(blob.body).get("created") if blob.status == 200 else None
        return dt.datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None

    def _delete_tag(self, path: str, name: str) -> Response:
        """GitLab's third-party tag delete: the tag moves to a dummy image, which is deleted by digest."""
        if name not in self._tag_names(path):
            return json_response(404, {"message": "404 Tag Not Found"})
        config = json.dumps({"regent-fake-dummy": uuid.uuid4().hex}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        start = self.forward(Request("POST", f"/v2/{path}/blobs/uploads/", "", {}, b""))
        location = urlsplit(start.headers.get("Location", ""))
        query = f"{location.query}&digest={quote(config_digest)}".lstrip("&")
        self.forward(
            Request("PUT", location.path, query, {"content-type": "application/octet-stream"}, config)
        )
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": config_digest},
                "layers": [],
            }
        ).encode()
        put = self.forward(
            Request("PUT", f"/v2/{path}/manifests/{name}", "", {"content-type": DOCKER_MANIFEST}, manifest)
        )
        dummy = put.headers.get("Docker-Content-Digest", "")
        gone = self.forward(Request("DELETE", f"/v2/{path}/manifests/{dummy}", "", {}, b""))
        if put.status != 201 or gone.status != 202:
            return json_response(500, {"message": f"registry answered {put.status}/{gone.status}"})
        return Response(204)
