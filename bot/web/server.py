"""Regent's HTTP server: a tiny WSGI router on a threading server, so features mount their own paths.

`regent serve` mounts Bolt's handler at /slack/events (HTTP mode) and always serves /healthz; later
features (the registry-notification webhook) mount theirs next to it. Each request runs on its own
thread, so a slow one never holds up Slack's 3-second ack of another.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
HealthCheck = Callable[[], dict[str, Any]]


class Router:
    """Dispatches by exact path to mounted WSGI apps; /healthz answers from a health callable."""

    def __init__(self, *, health: HealthCheck | None = None) -> None:
        self._routes: dict[str, WsgiApp] = {}
        self._health = health or (lambda: {"ok": True})

    def mount(self, path: str, app: WsgiApp) -> None:
        """Serve `path` (exactly) with a WSGI app."""
        if path in self._routes or path == "/healthz":
            raise ValueError(f"{path} is already mounted")
        self._routes[path] = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/healthz":
            state = self._health()
            status = "200 OK" if state.get("ok") else "503 Service Unavailable"
            return _reply(start_response, status, json.dumps(state).encode(), "application/json")
        app = self._routes.get(path)
        if app is None:
            return _reply(start_response, "404 Not Found", b"not found\n", "text/plain")
        return app(environ, start_response)


def _reply(start_response: StartResponse, status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops connections in a burst (50 events at once): the kernel then retries the
    # SYN after a second, which alone breaks Slack's 3-second budget.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Access log lines at debug level instead of stderr."""
        log.debug("%s - %s", self.address_string(), format % args)


class HttpServer:
    """The router on a threading WSGI server; a context manager that serves on a background thread."""

    def __init__(self, router: Router, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(
            host, port, router, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        # A short poll interval makes stop() quick; the cost is a select() wake-up every 50 ms.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="regent-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
