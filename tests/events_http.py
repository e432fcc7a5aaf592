"""Test helpers for the events feature: serve a WSGI app on loopback, and a minimal Slack Web API recorder.

The recorder answers `chat.postMessage` like Slack (`{"ok": true, "channel", "ts"}`) and keeps every call,
so alerts posted through slack_sdk's real WebClient can be checked without the network.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tests.fakes.http_server import BackgroundServer, QuietHandler


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 on a free port; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class SlackRecorder(BackgroundServer):
    """Records Web API calls; `api_url` is the base URL for `WebClient(base_url=...)`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.cond = threading.Condition()
        super().__init__(_handler(self))

    @property
    def api_url(self) -> str:
        """Base URL with the trailing slash slack_sdk expects."""
        return f"{self.url}/api/"

    def posted(self, method: str = "chat.postMessage") -> list[dict[str, Any]]:
        """Arguments of every call of `method`, oldest first."""
        with self.cond:
            return [args for name, args in self.calls if name == method]

    def wait_for(self, n: int, *, timeout: float, method: str = "chat.postMessage") -> list[dict[str, Any]]:
        """Block until `n` calls of `method` arrived (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([1 for name, _ in self.calls if name == method]) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {n} {method} calls, got {self.calls}"
                self.cond.wait(left)
        return self.posted(method)


def _handler(recorder: SlackRecorder) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            method = self.path.rsplit("/", 1)[-1]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                args: dict[str, Any] = json.loads(raw or "{}")
            else:
                args = dict(parse_qsl(raw))
            with recorder.cond:
                recorder.calls.append((method, args))
                recorder.cond.notify_all()
            body = {"ok": True, "channel": args.get("channel", ""), "ts": f"{time.time():.6f}"}
            self.send_body(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    return Handler
