"""A fake Portainer (CE or BE) on real HTTP that follows shared/reference/portainer-api.md.

Portainer's own handlers are simulated from records (tests/fakes/portainer_records.py); the Docker proxy
goes to a real dockerd over its unix socket and, in BE mode, `/api/registries/{id}/v2/...` goes to a real
registry with the stored credentials injected, as the real BE proxy does.

    with FakePortainer(edition="BE", environments=[FakeEnvironment.docker(1, "local", socket=sock)],
                       registries=[FakeRegistry(1, "test", registry_url)]) as portainer:
        client = PortainerClient(portainer.url, api_key=portainer.admin.api_keys[0])
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Literal

import httpx

from tests.fakes import portainer_records as rec
from tests.fakes.portainer_auth import AuthRoutes
from tests.fakes.portainer_http import PLAIN_404, Request, Response, error, handler_class, json_response
from tests.fakes.portainer_proxies import NOT_FOUND_DB, REGISTRY_NOT_FOUND, ProxyRoutes
from tests.fakes.portainer_records import (
    FakeEnvironment,
    FakeMembership,
    FakeRegistry,
    FakeStack,
    FakeTeam,
    FakeUser,
)
from tests.fakes.portainer_users import UserRoutes

__all__ = [
    "FakeAuthLog",
    "FakeEnvironment",
    "FakeMembership",
    "FakePortainer",
    "FakeRegistry",
    "FakeStack",
    "FakeTeam",
    "FakeUser",
]


@dataclass
class FakeAuthLog:
    """A BE auth activity record: type 1 success, 2 failure, 3 logout; context 1 internal, 2 LDAP, 3 OAuth."""

    id: int
    timestamp: int
    username: str
    origin: str
    type: int = 1
    context: int = 1


@dataclass
class _Failure:
    pattern: str
    method: str | None
    remaining: int
    response: Response | None  # None: drop the connection without answering


class FakePortainer(AuthRoutes, ProxyRoutes, UserRoutes):
    """The fake server; a context manager. Public record lists may be changed while it runs."""

    def __init__(
        self,
        *,
        edition: Literal["CE", "BE"] = "CE",
        version: str = "2.44.0",
        users: Iterable[FakeUser] | None = None,
        teams: Iterable[FakeTeam] = (),
        memberships: Iterable[FakeMembership] = (),
        registries: Iterable[FakeRegistry] = (),
        environments: Iterable[FakeEnvironment] = (),
        stacks: Iterable[FakeStack] = (),
        server_env: Iterable[str] = ("PORTAINER_LICENSE_KEY=lic-canary-0000",),
        auth_logs: Iterable[FakeAuthLog] = (),
        authlogs_shape: Literal["object", "array"] = "object",
    ) -> None:
        self.edition = edition
        self.version = version
        self.instance_id = str(uuid.uuid4())
        self.users = list(users) if users is not None else [FakeUser(1, "admin")]
        self.teams, self.memberships = list(teams), list(memberships)
        self.registries, self.environments, self.stacks = list(registries), list(environments), list(stacks)
        self.server_env = list(server_env)
        self.auth_logs = list(auth_logs)
        self.authlogs_shape = authlogs_shape  # BE-old answers {logs, totalCount}; the 2.44 spec a bare array
        self.hits: Counter[str] = Counter()  # by path, without the query
        self.log: list[tuple[str, str]] = []  # (method, path) in arrival order
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._jwt_secret = secrets.token_bytes(32)
        self._jwt_generation = 0
        self._login_times: deque[float] = deque(maxlen=11)
        self._banned = False
        self._clients: dict[str, httpx.Client] = {}  # by unix socket; "" for TCP
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()

    # --- lifecycle -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:43121 (the client appends /api/...)."""
        if self._server is None:
            raise RuntimeError("FakePortainer is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def admin(self) -> FakeUser:
        """The first administrator."""
        return next(u for u in self.users if u.is_admin)

    def start(self) -> FakePortainer:
        """Bind 127.0.0.1 on a free port and serve on a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(self.handle))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-portainer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close upstream connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> FakePortainer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test hooks ------------------------------------------------------------------------------------

    def count(self, pattern: str, *, method: str | None = None) -> int:
        """Requests whose path matches the fnmatch `pattern` (and method, if given)."""
        with self._lock:
            return sum(1 for m, p in self.log if fnmatch.fnmatchcase(p, pattern) and method in (None, m))

    def fail_next(
        self,
        pattern: str,
        *,
        times: int = 1,
        status: int = 500,
        method: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests matching `pattern` with `status` (0 = drop the connection)."""
        response = None
        if status:
            payload = (
                body if body is not None else {"message": "Injected failure", "details": f"HTTP {status}"}
            )
            response = json_response(status, payload, headers)
        with self._lock:
            self._failures.append(_Failure(pattern, method, times, response))

    def revoke_tokens(self) -> None:
        """Invalidate every JWT issued so far (as if they expired)."""
        self._jwt_generation += 1

    def reset_counters(self) -> None:
        """Forget request counts."""
        with self._lock:
            self.hits.clear()
            self.log.clear()

    # --- dispatch --------------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response | None:
        """Route one request; None means drop the connection."""
        with self._lock:
            self.hits[req.path] += 1
            self.log.append((req.method, req.path))
            for failure in self._failures:
                matches = fnmatch.fnmatchcase(req.path, failure.pattern) and failure.method in (
                    None,
                    req.method,
                )
                if matches and failure.remaining > 0:
                    failure.remaining -= 1
                    return failure.response
        for methods, regex, public, handler in self._routes:
            match = regex.fullmatch(req.path)
            if match is None:
                continue
            if methods is not None and req.method not in methods:
                return Response(405, b"", {"Content-Type": "text/plain"})
            if not public:
                denied = self._authenticate(req)
                if denied is not None:
                    return denied
            return handler(req, *match.groups())
        return PLAIN_404

    def _build_routes(
        self,
    ) -> list[tuple[frozenset[str] | None, re.Pattern[str], bool, Callable[..., Response]]]:
        get = frozenset({"GET"})
        table: list[tuple[frozenset[str] | None, str, bool, Callable[..., Response]]] = [
            (frozenset({"POST"}), "/api/auth", True, self._login),
            (frozenset({"POST"}), "/api/auth/logout", True, lambda _req: Response(204)),
            (get, "/api/system/status", True, self._system_status),
            (get, "/api/status", True, self._system_status),
            (get, "/api/system/version", False, self._system_version),
            (
                get,
                "/api/users/me",
                False,
                lambda req: json_response(200, rec.user_json(req.user, business=self._be)),
            ),
            (get, r"/api/users/(\d+)/memberships", False, self._user_memberships),
            (get, "/api/users", False, self._users),
            (frozenset({"GET", "PUT"}), r"/api/users/(\d+)", False, self._user),
            (get, r"/api/users/(\d+)/tokens", False, self._tokens),
            (frozenset({"DELETE"}), r"/api/users/(\d+)/tokens/(\d+)", False, self._delete_token),
            (get, "/api/teams", False, self._teams),
            (get, "/api/team_memberships", False, self._team_memberships),
            (frozenset({"DELETE"}), r"/api/team_memberships/(\d+)", False, self._delete_membership),
            (get, "/api/registries", False, self._registries),
            (get, r"/api/registries/(\d+)", False, self._registry),
            (get, "/api/endpoints", False, self._endpoints),
            (get, r"/api/endpoints/(\d+)", False, self._endpoint),
            (get, r"/api/endpoints/(\d+)/registries", False, self._endpoint_registries),
            (None, r"/api/endpoints/(\d+)/docker(/.*)", False, self._docker),
            (None, r"/api/endpoints/(\d+)/kubernetes(/.*)", False, self._kubernetes),
            (get, "/api/stacks", False, self._stacks),
            (get, r"/api/stacks/(\d+)/file", False, self._stack_file),
        ]
        if self.edition == "BE":  # CE has no registry proxy: those paths fall through to the plain 404
            table.append((None, r"/api/registries/(\d+)/v2(/.*)?", False, self._registry_proxy))
            table.append((get, "/api/useractivity/authlogs", False, self._authlogs))
        return [(methods, re.compile(path), public, fn) for methods, path, public, fn in table]

    @property
    def _be(self) -> bool:
        return self.edition == "BE"

    # --- Portainer handlers ----------------------------------------------------------------------------

    def _system_status(self, _req: Request) -> Response:
        return json_response(200, {"Version": self.version, "InstanceID": self.instance_id})

    def _system_version(self, req: Request) -> Response:
        env = self.server_env if req.user and req.user.is_admin else []
        build: dict[str, Any] = {
            "BuildNumber": "42",
            "ImageTag": self.version,
            "NodejsVersion": "22",
            "PnpmVersion": "9",
        }
        build |= {"WebpackVersion": "5", "GoVersion": "go1.24", "GitCommit": "abc1234", "Env": env}
        return json_response(
            200,
            {
                "ServerVersion": self.version,
                "ServerEdition": "EE" if self._be else "CE",
                "DatabaseVersion": self.version,
                "UpdateAvailable": False,
                "LatestVersion": "",
                "VersionSupport": "STS",
                "Build": build,
                "Dependencies": {"ComposeVersion": "2.29", "DockerVersion": "27.3", "HelmVersion": "3.16"},
                "Runtime": {"Env": env},
            },
        )

    def _team_ids(self, user: FakeUser) -> set[int]:
        return {m.team_id for m in self.memberships if m.user_id == user.id}

    def _user_memberships(self, req: Request, user_id: str) -> Response:
        assert req.user is not None
        if not req.user.is_admin and req.user.id != int(user_id):
            return error(403, "Permission denied to retrieve user memberships", "Unauthorized")
        found = [rec.membership_json(m) for m in self.memberships if m.user_id == int(user_id)]
        return json_response(200, found)

    def _teams(self, req: Request) -> Response:
        assert req.user is not None
        mine = self._team_ids(req.user)
        teams = [t for t in self.teams if req.user.is_admin or t.id in mine]
        return json_response(200, [{"Id": t.id, "Name": t.name} for t in teams])

    def _team_memberships(self, req: Request) -> Response:
        assert req.user is not None
        leads = any(m.user_id == req.user.id and m.role == rec.TEAM_LEADER for m in self.memberships)
        if not (req.user.is_admin or leads):
            return error(403, "Permission denied to list team memberships", "Unauthorized")
        return json_response(200, [rec.membership_json(m) for m in self.memberships])

    def _registries(self, req: Request) -> Response:
        assert req.user is not None
        if not self._be and not req.user.is_admin:
            return error(403, "Access denied", "Unauthorized")
        # CE 2.23's list handler returns the DB records as they are, passwords included.
        view = "admin" if req.user.is_admin else "scrubbed"
        if not self._be:
            view = "raw"
        return json_response(200, [rec.registry_json(r, view=view) for r in self.registries])

    def _find_registry(self, registry_id: str) -> FakeRegistry | None:
        return next((r for r in self.registries if r.id == int(registry_id)), None)

    def _registry(self, req: Request, registry_id: str) -> Response:
        assert req.user is not None
        registry = self._find_registry(registry_id)
        if registry is None:
            return error(404, REGISTRY_NOT_FOUND, NOT_FOUND_DB)
        if not req.user.is_admin and self._env_denied(req) is not None:
            return error(403, "Access denied to resource", "Unauthorized")
        body = rec.registry_json(registry, view="inspect")
        if not req.user.is_admin:
            body["RegistryAccesses"] = None
        return json_response(200, body)

    def _may_use(self, user: FakeUser, env: FakeEnvironment) -> bool:
        return user.is_admin or user.id in env.user_ids or bool(self._team_ids(user) & env.team_ids)

    def _env_denied(self, req: Request) -> Response | None:
        """For non-admins on registry routes: `?endpointId=` must name an environment they may use."""
        env_id = req.arg("endpointId")
        env = next((e for e in self.environments if env_id and str(e.id) == env_id), None)
        if env is None or req.user is None or not self._may_use(req.user, env):
            return error(403, "Access denied to resource", "Unauthorized")
        return None

    def _endpoints(self, req: Request) -> Response:
        assert req.user is not None
        visible = [e for e in self.environments if self._may_use(req.user, e)]
        found = visible
        if types := req.query.get("types[]"):  # a plain `types=` is ignored, like the real server
            found = [e for e in found if str(e.type) in types]
        if search := (req.arg("search") or "").lower():
            found = [e for e in found if search in e.name.lower()]
        if name := req.arg("name"):
            found = [e for e in found if e.name == name]
        try:
            start, limit = int(req.arg("start") or 0), int(req.arg("limit") or 0)
        except ValueError:
            return error(400, "Invalid query parameter: start/limit", "strconv.Atoi: parsing")
        offset = max(start - 1, 0)  # 1-based; start=0 and start=1 both mean the first item
        page = found[offset : offset + limit] if limit else found[offset:]
        snapshots = req.arg("excludeSnapshots") != "true"
        body = [rec.endpoint_json(e, snapshots=snapshots, admin=req.user.is_admin) for e in page]
        counts = {"X-Total-Count": str(len(found)), "X-Total-Available": str(len(visible))}
        return json_response(200, body, counts)

    def _find_env(self, req: Request, env_id: str) -> FakeEnvironment | Response:
        assert req.user is not None
        env = next((e for e in self.environments if e.id == int(env_id)), None)
        if env is None:
            msg = "Unable to find an environment with the specified identifier inside the database"
            return error(404, msg, NOT_FOUND_DB)
        if not self._may_use(req.user, env):
            return error(403, "Permission denied to access environment", "Unauthorized")
        return env

    def _endpoint(self, req: Request, env_id: str) -> Response:
        env = self._find_env(req, env_id)
        if isinstance(env, Response):
            return env
        assert req.user is not None
        snapshots = req.arg("excludeSnapshot") != "true"  # singular on inspect
        return json_response(200, rec.endpoint_json(env, snapshots=snapshots, admin=req.user.is_admin))

    def _endpoint_registries(self, req: Request, env_id: str) -> Response:
        """Registries usable on an environment; the fake grants every registry on every environment."""
        env = self._find_env(req, env_id)
        if isinstance(env, Response):
            return env
        assert req.user is not None
        body = [rec.registry_json(r, view="inspect") for r in self.registries]
        if not req.user.is_admin:
            for record in body:
                record["RegistryAccesses"] = None
        return json_response(200, body)

    def _stacks(self, req: Request) -> Response:
        assert req.user is not None
        try:
            filters = json.loads(req.arg("filters") or "{}")
        except ValueError:
            return error(400, "Invalid query parameter: filters", "invalid JSON")
        allowed = {e.id for e in self.environments if self._may_use(req.user, e)}
        found = [s for s in self.stacks if s.endpoint_id in allowed]
        if "EndpointID" in filters:
            found = [s for s in found if s.endpoint_id == filters["EndpointID"]]
        return json_response(200, [rec.stack_json(s) for s in found])

    def _stack_file(self, req: Request, stack_id: str) -> Response:
        stack = next((s for s in self.stacks if s.id == int(stack_id)), None)
        if stack is None:
            return error(
                404, "Unable to find a stack with the specified identifier inside the database", NOT_FOUND_DB
            )
        return json_response(200, {"StackFileContent": stack.content})

    def _authlogs(self, req: Request) -> Response:
        """BE auth activity, admin only; `after`/`before` unix bounds, `offset`/`limit` paging."""
        assert req.user is not None
        if not req.user.is_admin:
            return error(403, "Access denied to resource", "Unauthorized")
        try:
            after, before = int(req.arg("after") or 0), int(req.arg("before") or 0)
            offset, limit = int(req.arg("offset") or 0), int(req.arg("limit") or 0)
        except ValueError:
            return error(400, "Invalid query parameter", "strconv.Atoi: parsing")
        found = [e for e in self.auth_logs if (not after or e.timestamp > after)]
        found = [e for e in found if not before or e.timestamp < before]
        found.sort(key=lambda e: (e.timestamp, e.id), reverse=req.arg("sortDesc") == "true")
        page = found[offset : offset + limit] if limit else found[offset:]
        items = [
            {
                "id": e.id,
                "timestamp": e.timestamp,
                "username": e.username,
                "origin": e.origin,
                "context": e.context,
                "type": e.type,
            }
            for e in page
        ]
        body: Any = items if self.authlogs_shape == "array" else {"logs": items, "totalCount": len(found)}
        return json_response(200, body)
