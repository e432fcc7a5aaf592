"""Regent's HTTP server: a small path router served by waitress, so features mount their own WSGI apps.

`regent serve` mounts Bolt's handler at /slack/events (HTTP mode) and always serves /healthz; the
registry-notification and report-upload endpoints mount next to it. waitress reads each request fully on
its I/O thread (a slow client holds no worker) and runs the app on a pool of worker threads, so a slow
request never holds up Slack's 3-second ack of another.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from waitress import wasyncore
from waitress.server import create_server

from bot.web.requests import Reply, StartResponse, respond

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
HealthCheck = Callable[[], dict[str, Any]]
DEFAULT_MAX_BODY = 1 << 20  # Slack's payloads, /healthz, /metrics: a megabyte is plenty
WORKER_THREADS = 16  # a burst of webhooks must leave a worker free for Slack's 3-second ack
_STOP_GRACE_SECONDS = 3.0


class Router:
    """Dispatches by exact path to mounted WSGI apps; /healthz answers from a health callable."""

    def __init__(self, *, health: HealthCheck | None = None) -> None:
        self._routes: dict[str, WsgiApp] = {}
        self._limits: dict[str, int] = {}
        self._health = health or (lambda: {"ok": True})
        self._watchers: list[Callable[[int], None]] = []

    def mount(self, path: str, app: WsgiApp, *, max_body_bytes: int = DEFAULT_MAX_BODY) -> None:
        """Serve `path` (exactly) with a WSGI app that reads bodies of at most `max_body_bytes`."""
        if path in self._routes or path == "/healthz":
            raise ValueError(f"{path} is already mounted")
        self._routes[path] = app
        self._limits[path] = max_body_bytes
        for watcher in self._watchers:
            watcher(self.max_body_bytes)

    @property
    def max_body_bytes(self) -> int:
        """The largest body any mounted app accepts."""
        return max([DEFAULT_MAX_BODY, *self._limits.values()])

    def watch_body_limit(self, watcher: Callable[[int], None]) -> None:
        """Call `watcher` with the largest body limit now and after every mount (mounts may follow start)."""
        self._watchers.append(watcher)
        watcher(self.max_body_bytes)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/healthz":
            return respond(start_response, self._health_reply())
        app = self._routes.get(path)
        if app is None:
            return respond(start_response, Reply(404, {"error": f"nothing is served at {path[:100]}"}))
        return app(environ, start_response)

    def _health_reply(self) -> Reply:
        try:
            state = self._health()
        except Exception:  # a broken check is an unhealthy server, not a 500 with a traceback in the log only
            log.exception("the health check failed")
            return Reply(503, {"ok": False, "error": "the health check failed; see the log"})
        return Reply(200 if state.get("ok") else 503, state)


class HttpServer:
    """The router on waitress; a context manager that serves on a background thread."""

    def __init__(
        self, router: Router, *, host: str = "127.0.0.1", port: int = 0, threads: int = WORKER_THREADS
    ) -> None:
        self._map: dict[int, Any] = {}  # our own socket map, so stop() can close every connection
        self._server = create_server(
            router,
            map=self._map,
            host=host,
            port=port,
            threads=threads,
            ident="regent",
        )
        router.watch_body_limit(self._set_body_limit)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="regent-http", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Let running requests finish (a few seconds at most), then close every socket; idempotent."""
        if self._stopping.is_set():  # a second stop (a signal, then the context's exit): already done
            self._thread.join(timeout=5)
            return
        self._server.task_dispatcher.shutdown(timeout=_STOP_GRACE_SECONDS)
        self._stopping.set()
        # wakes the I/O loop, which then sees _stopping; if the loop has ended already it closed the
        # trigger with every other socket, and there is nothing left to wake (EBADF)
        with contextlib.suppress(OSError):
            self._server.pull_trigger()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        else:
            self._close_sockets()

    def _set_body_limit(self, route_limit: int) -> None:
        # waitress buffers a whole body before the app sees it, so it must refuse oversized ones itself.
        # Twice the largest route limit: a body up to that gets the route's own JSON 413; a larger one is
        # cut off by waitress while it arrives, so nothing unbounded is ever buffered.
        self._server.adj.max_request_body_size = 2 * route_limit

    def _serve(self) -> None:
        try:
            while not self._stopping.is_set():
                # poll(), not select(), which cannot watch file descriptors above 1023
                wasyncore.loop(timeout=1.0, map=self._map, use_poll=True, count=1)
            self._flush_answers()
        finally:
            self._close_sockets()

    def _flush_answers(self) -> None:
        """Send what finished requests wrote and this I/O loop has not sent yet (a second at most)."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(
            getattr(channel, "total_outbufs_len", 0) for channel in list(self._map.values())
        ):
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)

    def _close_sockets(self) -> None:
        for channel in list(self._map.values()):  # the listening socket, its trigger and every connection
            channel.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
