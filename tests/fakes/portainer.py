"""A fake Portainer (CE or BE) on real HTTP that follows Portainer's own handlers.

Each route answers as the CE 2.23 handler named next to it in tests/fakes/portainer_routes.py does
(paths under `api/` of portainer/portainer, summarised with file and line in
shared/reference/portainer-real.md); BE-only routes and behaviour are marked BE and follow BE-old or the
EE 2.44 spec. Records live in tests/fakes/portainer_records.py; the Docker proxy goes to a real dockerd
over its unix socket and, in BE mode, `/api/registries/{id}/v2/...` goes to a real registry with the
stored credentials injected.

    with FakePortainer(edition="BE", environments=[FakeEnvironment.docker(1, "local", socket=sock)],
                       registries=[FakeRegistry(1, "test", registry_url)]) as portainer:
        client = PortainerClient(portainer.url, api_key=portainer.admin.api_keys[0])
"""

from __future__ import annotations

import fnmatch
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

from tests.fakes.portainer_activity import ActivityRoutes, FakeAuthLog
from tests.fakes.portainer_auth import AuthRoutes
from tests.fakes.portainer_core import CoreRoutes
from tests.fakes.portainer_exec import EXEC_ROUTES, ExecRoutes
from tests.fakes.portainer_http import PLAIN_404, Request, Response, handler_class, json_response
from tests.fakes.portainer_proxies import ProxyRoutes
from tests.fakes.portainer_records import (
    FakeEnvironment,
    FakeMembership,
    FakeRegistry,
    FakeRegistryAccess,
    FakeStack,
    FakeTeam,
    FakeUser,
)
from tests.fakes.portainer_registries import RegistryRoutes
from tests.fakes.portainer_routes import BE_ROUTES, ROUTES, SYSTEM_ROUTES, SYSTEM_ROUTES_SINCE
from tests.fakes.portainer_users import UserRoutes

__all__ = [
    "FakeAuthLog",
    "FakeEnvironment",
    "FakeMembership",
    "FakePortainer",
    "FakeRegistry",
    "FakeRegistryAccess",
    "FakeStack",
    "FakeTeam",
    "FakeUser",
]

Route = tuple[frozenset[str] | None, re.Pattern[str], bool, Callable[..., Response], str]


@dataclass
class _Failure:
    pattern: str
    method: str | None
    remaining: int
    response: Response | None  # None: drop the connection without answering


@dataclass
class _Hook:
    pattern: str
    method: str | None
    action: Callable[[], None]


class FakePortainer(
    CoreRoutes, RegistryRoutes, UserRoutes, AuthRoutes, ProxyRoutes, ActivityRoutes, ExecRoutes
):
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
        self._hooks: list[_Hook] = []
        self._jwt_secret = secrets.token_bytes(32)
        self._jwt_generation = 0
        self._login_times: deque[float] = deque(maxlen=11)
        self._banned = False
        self._clients: dict[str, httpx.Client] = {}  # by unix socket; "" for TCP
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()
        for user in self.users:  # key ids in creation order, as Portainer's database assigns them
            for raw in user.api_keys:
                self._key_id(raw)

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

    def run_before(self, pattern: str, action: Callable[[], None], *, method: str | None = None) -> None:
        """Call `action` once, just before the real handler answers the next request matching `pattern`."""
        with self._lock:
            self._hooks.append(_Hook(pattern, method, action))

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
            due = [
                h
                for h in self._hooks
                if fnmatch.fnmatchcase(req.path, h.pattern) and h.method in (None, req.method)
            ]
            self._hooks = [h for h in self._hooks if h not in due]
        for hook in due:
            hook.action()
        for methods, regex, public, handler, _source in self._routes:
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

    def _build_routes(self) -> list[Route]:
        """The route table (tests/fakes/portainer_routes.py) bound to this server's handlers."""
        specs = [*EXEC_ROUTES, *ROUTES]  # stacks/{id} and Docker exec (portainer_exec.py), before the proxy
        if self._version_tuple >= SYSTEM_ROUTES_SINCE:
            specs.extend(SYSTEM_ROUTES)
        if self._be:
            specs.extend(BE_ROUTES)
        return [
            (
                None if methods == "*" else frozenset(methods.split(",")),
                re.compile(path),
                public,
                getattr(self, handler),
                source,
            )
            for methods, path, public, handler, source in specs
        ]

    def route_sources(self) -> dict[str, str]:
        """Each route's path pattern -> the real handler it follows (file and, where known, lines)."""
        return {regex.pattern: source for _m, regex, _p, _h, source in self._routes}

    @property
    def _version_tuple(self) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:2])
