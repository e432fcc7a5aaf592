"""A fake Docker Hub: the Hub API's routes in front of a real docker-registry that holds the images.

Hub API routes, shapes from docker/docs content/reference/api/hub/latest.yaml (trimmed copy:
tests/fakes/specs/dockerhub-hub-api.yaml; the tests validate every answer against it with openapi-core):
- `POST /v2/auth/token {identifier, secret}` -> `{access_token}` (AuthCreateAccessToken), 401 `{detail}`
  for bad credentials; tokens expire after `token_ttl` seconds ("This expires in 10 minutes");
- `GET /v2/namespaces/{ns}/repositories` (listNamespaceRepositories): `count`/`next`/`previous` pages of
  `repository_list_entry`, at most 100 a page; 404 for a page past the end;
- `GET /v2/namespaces/{ns}/repositories/{repo}/tags` (ListRepositoryTags): `paginated_tags`, each tag with
  `tag_last_pushed`, `tag_last_pulled`, `full_size` ("compressed size (sum of all layers)") and `images`
  as the schema has it (one image object: digest, size, last_pushed, last_pulled);
- `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/` -> 204: not in latest.yaml; the route docker/hub-tool
  deletes tags with (pkg/hub/tags.go). The tag goes, the image stays;
- 429 with `Retry-After` seconds and `X-RateLimit-Limit/-Remaining/-Reset` (latest.yaml's "Rate Limiting"
  section; body from its documented 429 example `{detail: "Rate limit exceeded", error: false}`), for
  the next calls the test queues in `throttle`.

v2, where Docker Hub differs from distribution: no `/v2/_catalog` (distribution/distribution#1831;
answered 404 UNSUPPORTED), and a v2 DELETE of a manifest that still has tags is refused with 403 DENIED
(docs.docker.com/reference/api/registry/latest, DeleteImageManifest). Tags deleted through the Hub API are
gone from v2 too (tag lists, manifests by tag). With `pull_quota` set, manifest GETs count as pulls (HEADs
do not) and carry `ratelimit-limit`/`ratelimit-remaining` (`N;w=21600`, docs.docker.com/docker-hub/usage,
as in tests/fakes/dockerhub.py); past the quota they get 429 TOOMANYREQUESTS (distribution's errcode
`ErrorCodeTooManyRequests`, the code Docker Hub's pull limit answers with). Everything else goes to the
real registry unchanged.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.registry_front import RegistryFront

DEFAULT_PUSHED = datetime(2026, 1, 1, tzinfo=UTC)
REPOSITORIES = "/v2/namespaces/"
TAG_DELETE = "/v2/repositories/"
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


@dataclass
class Exchange:
    """One Hub API request and its answer, kept for the spec validation in the tests."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int
    answer: bytes
    answer_headers: dict[str, str]


@dataclass
class HubState:
    """What the fake answers; tests change it directly (under `lock` while the fake serves)."""

    users: dict[str, str] = field(default_factory=dict)  # identifier -> secret
    token_ttl: float = 600.0
    clocks: dict[tuple[str, str], tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)  # (repository, tag) deleted via the Hub API
    throttle: list[int] = field(default_factory=list)  # Retry-After of the next Hub API answers: 429s
    max_page_size: int = 100
    api_remaining: int | None = None  # Hub API calls left in the minute: X-RateLimit-* on every answer
    api_reset_in: int = 1  # seconds from an answer to its X-RateLimit-Reset
    pull_quota: int | None = None  # manifest GETs left before v2 answers 429; None: no pull limit
    pull_limit: int = 100
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeDockerHubApi:
    """Hub API + Hub-like v2 on one loopback URL, images kept in the real registry at `upstream`."""

    def __init__(self, upstream: str, *, users: dict[str, str] | None = None) -> None:
        self.state = HubState(users=dict(users or {}))
        self.front = RegistryFront(upstream, self._route)

    @property
    def url(self) -> str:
        """The fake's base URL (stands in for both hub.docker.com and registry-1.docker.io)."""
        return self.front.url

    def __enter__(self) -> Self:
        self.front.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.front.__exit__(exc_type, exc, tb)

    def set_clock(
        self, repository: str, tag: str, *, pushed: datetime | None, pulled: datetime | None
    ) -> None:
        """The Hub's `tag_last_pushed` / `tag_last_pulled` of one tag."""
        with self.state.lock:
            self.state.clocks[(repository, tag)] = (pushed, pulled)

    # ----- routing ------------------------------------------------------------------------------

    def _route(self, request: Request) -> Response | None:
        if request.path == "/v2/auth/token" or request.path.startswith((REPOSITORIES, TAG_DELETE)):
            answer = self._limit_headers(self._hub(request))
            with self.state.lock:
                self.state.exchanges.append(
                    Exchange(
                        request.method,
                        request.path,
                        request.raw_query,
                        request.headers,
                        request.body,
                        answer.status,
                        answer.body,
                        answer.headers,
                    )
                )
            return answer
        return self._v2(request)

    def _hub(self, request: Request) -> Response:
        throttled = self._throttled()
        if throttled is not None:
            return throttled
        if request.path == "/v2/auth/token" and request.method == "POST":
            return self._token(request)
        if not self._authorized(request):
            return json_response(401, {"detail": "Authentication credentials were not provided."})
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        if request.method == "GET" and len(parts) == 4 and parts[3] == "repositories":
            return self._repositories(request, parts[2])
        if request.method == "GET" and len(parts) == 6 and parts[5] == "tags":
            return self._tags(request, f"{parts[2]}/{parts[4]}")
        if request.method == "DELETE" and len(parts) == 6 and parts[0:2] == ["v2", "repositories"]:
            return self._delete_tag(f"{parts[2]}/{parts[3]}", parts[5])
        return json_response(404, {"detail": "Not found."})

    def _limit_headers(self, answer: Response) -> Response:
        """Below the limit every answer says what is left (latest.yaml, "Rate Limiting")."""
        with self.state.lock:
            left = self.state.api_remaining
            if left is None or answer.status == 429:
                return answer
            self.state.api_remaining = max(left - 1, 0)
        answer.headers.update(
            {
                "X-RateLimit-Limit": "180",
                "X-RateLimit-Remaining": str(max(left - 1, 0)),
                "X-RateLimit-Reset": str(int(time.time()) + self.state.api_reset_in),
            }
        )
        return answer

    def _throttled(self) -> Response | None:
        with self.state.lock:
            if not self.state.throttle:
                return None
            wait = self.state.throttle.pop(0)
        reset = str(int(time.time()) + wait)
        headers = {
            "Retry-After": str(wait),
            "X-RateLimit-Limit": "180",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        }
        return json_response(429, {"detail": "Rate limit exceeded", "error": False}, headers)

    def _token(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = {}
        identifier, secret = body.get("identifier"), body.get("secret")
        if not isinstance(identifier, str) or self.state.users.get(identifier) != secret:
            return json_response(401, {"detail": "Incorrect authentication credentials"})
        token = f"eyJhbGciOiJIUzI1NiJ9.{secrets.token_urlsafe(16)}.fake"
        with self.state.lock:
            self.state.tokens[token] = time.monotonic() + self.state.token_ttl
        return json_response(200, {"access_token": token})

    def _authorized(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.state.lock:
            expiry = self.state.tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    # ----- Hub API answers ----------------------------------------------------------------------

    def _repositories(self, request: Request, namespace: str) -> Response:
        names = sorted(
            name.split("/", 1)[1]
            for name in self._upstream_catalog()
            if name.startswith(f"{namespace}/") and name.count("/") == 1
        )
        entries = [_repository_entry(namespace, name) for name in names]
        return self._page(request, entries)

    def _tags(self, request: Request, repository: str) -> Response:
        live = self._live_tags(repository)
        if live is None:
            return json_response(404, {"detail": "object not found", "message": "object not found"})
        return self._page(
            request, [self._tag_entry(repository, tag, index) for index, tag in enumerate(live)]
        )

    def _delete_tag(self, repository: str, tag: str) -> Response:
        if tag not in (self._live_tags(repository) or []):
            return json_response(404, {"detail": "Not found."})
        with self.state.lock:
            self.state.deleted.add((repository, tag))
        return Response(204)

    def _page(self, request: Request, entries: list[dict[str, Any]]) -> Response:
        page = int(request.arg("page") or 1)
        size = min(int(request.arg("page_size") or 10), self.state.max_page_size)
        start = (page - 1) * size
        if page > 1 and start >= len(entries):
            return json_response(404, {"detail": "Invalid page."})

        def link(number: int) -> str:
            return f"{self.url}{request.path}?page={number}&page_size={size}"

        more = start + size < len(entries)
        return json_response(
            200,
            {
                "count": len(entries),
                "next": link(page + 1) if more else None,
                "previous": link(page - 1) if page > 1 else None,
                "results": entries[start : start + size],
            },
        )

    def _tag_entry(self, repository: str, tag: str, index: int) -> dict[str, Any]:
        manifest = self._upstream_json("GET", f"/v2/{repository}/manifests/{tag}")
        digest = manifest.pop("__digest__")
        layers = manifest.get("layers") or []
        full_size = sum(int(layer.get("size", 0)) for layer in layers)
        with self.state.lock:
            pushed, pulled = self.state.clocks.get((repository, tag), (DEFAULT_PUSHED, None))
        config = manifest.get("config") or {}
        return {
            "id": 1000 + index,
            "name": tag,
            "full_size": full_size,
            "last_updated": _iso(pushed),
            "last_updater_username": repository.partition("/")[0],
            "status": "active",
            "tag_last_pushed": _iso(pushed),
            "tag_last_pulled": _iso(pulled),
            "images": {
                "architecture": "amd64" if config else "",
                "os": "linux",
                "digest": digest,
                "size": full_size,
                "status": "active",
                "last_pushed": _iso(pushed),
                "last_pulled": _iso(pulled),
            },
        }

    # ----- v2 where Docker Hub differs ----------------------------------------------------------

    def _v2(self, request: Request) -> Response | None:
        if request.path == "/v2/_catalog":
            return json_response(
                404, {"errors": [{"code": "UNSUPPORTED", "message": "The operation is unsupported."}]}
            )
        repository, kind, reference = _v2_parts(request.path)
        if kind == "tags":
            return self._v2_tags(request)
        if kind != "manifests":
            return None
        if request.method == "PUT" and not reference.startswith("sha256:"):
            with self.state.lock:  # a push brings a deleted tag back
                self.state.deleted.discard((repository, reference))
            return None
        with self.state.lock:
            gone = (repository, reference) in self.state.deleted
        if gone:
            return json_response(
                404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            )
        if request.method == "DELETE" and self._tagged(repository, reference):
            message = "The operation is not allowed: the manifest is tagged; delete its tags first"
            return json_response(403, {"errors": [{"code": "DENIED", "message": message}]})
        if request.method == "GET":
            return self._pull(request)
        return None

    def _pull(self, request: Request) -> Response | None:
        """A manifest GET is a pull: counted against `pull_quota` when the test set one."""
        with self.state.lock:
            left = self.state.pull_quota
            if left is not None and left > 0:
                self.state.pull_quota = left - 1
        if left is None:
            return None
        headers = {
            "ratelimit-limit": f"{self.state.pull_limit};w=21600",
            "ratelimit-remaining": f"{max(left - 1, 0)};w=21600",
            "docker-ratelimit-source": "203.0.113.9",
        }
        if left <= 0:
            message = "You have reached your pull rate limit. You may increase the limit by authenticating."
            errors = {"errors": [{"code": "TOOMANYREQUESTS", "message": message}]}
            return json_response(429, errors, headers)
        answer = self.front.forward(request)
        answer.headers.update(headers)
        return answer

    def _v2_tags(self, request: Request) -> Response:
        answer = self.front.forward(request)
        if answer.status != 200:
            return answer
        body = json.loads(answer.body)
        name = body.get("name", "")
        with self.state.lock:
            body["tags"] = [t for t in body.get("tags") or [] if (name, t) not in self.state.deleted]
        return json_response(200, body, {k: v for k, v in answer.headers.items() if k.lower() == "link"})

    def _tagged(self, repository: str, digest: str) -> bool:
        for tag in self._live_tags(repository) or []:
            head = self.front.forward(_internal("HEAD", f"/v2/{repository}/manifests/{tag}"))
            if head.headers.get("Docker-Content-Digest") == digest:
                return True
        return False

    # ----- the real registry, asked directly ----------------------------------------------------

    def _upstream_catalog(self) -> list[str]:
        body = self._upstream_json("GET", "/v2/_catalog?n=1000")
        names = body.get("repositories") or []
        return [n for n in names if isinstance(n, str)]

    def _live_tags(self, repository: str) -> list[str] | None:
        answer = self.front.forward(_internal("GET", f"/v2/{repository}/tags/list"))
        if answer.status != 200:
            return None
        tags = json.loads(answer.body).get("tags") or []
        with self.state.lock:
            return sorted(t for t in tags if (repository, t) not in self.state.deleted)

    def _upstream_json(self, method: str, target: str) -> dict[str, Any]:
        answer = self.front.forward(_internal(method, target))
        if answer.status != 200:
            raise RuntimeError(f"upstream answered {answer.status} to {target}")
        body: dict[str, Any] = json.loads(answer.body)
        body["__digest__"] = answer.headers.get("Docker-Content-Digest", "")
        return body


def _internal(method: str, target: str) -> Request:
    path, _, query = target.partition("?")
    return Request(method=method, path=path, raw_query=query, headers={"accept": ACCEPT}, body=b"")


def _v2_parts(path: str) -> tuple[str, str, str]:
    """(name, "manifests", ref) for `/v2/<name>/manifests/<ref>`; (name, "tags", "") for a tag list."""
    if path.endswith("/tags/list"):
        return path[len("/v2/") : -len("/tags/list")], "tags", ""
    head, sep, reference = path.rpartition("/manifests/")
    if sep and head.startswith("/v2/"):
        return head[len("/v2/") :], "manifests", reference
    return "", "", ""


def _repository_entry(namespace: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "repository_type": "image",
        "status": 1,
        "status_description": "active",
        "description": "",
        "is_private": True,
        "star_count": 0,
        "pull_count": 0,
        "last_updated": _iso(DEFAULT_PUSHED),
        "last_modified": _iso(DEFAULT_PUSHED),
        "date_registered": _iso(DEFAULT_PUSHED),
        "affiliation": "",
        "media_types": ["application/vnd.docker.container.image.v1+json"],
        "content_types": ["image"],
        "categories": [],
        "storage_size": 0,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
