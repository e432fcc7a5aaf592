"""A reverse proxy on loopback that records every request's headers, then forwards it to a real server.

Put it between the fake Portainer's BE registry proxy and the real registry to see exactly what reaches
the registry:

    with RecordingProxy(registry.url) as upstream:
        FakeRegistry(1, "r", upstream.url, ...)   # Portainer forwards here
        ...
        assert not any("x-api-key" in h for h in upstream.headers)
"""

from __future__ import annotations

import threading
from types import TracebackType

import httpx

from tests.fakes.http_server import BackgroundServer, QuietHandler

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class RecordingProxy(BackgroundServer):
    """Forward every request to `target`; `headers` holds each request's headers (lower-case names)."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.headers: list[dict[str, str]] = []
        self.paths: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.upstream = httpx.Client(timeout=30)
        super().__init__(_RecordingHandler)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        self.upstream.close()

    def record(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Keep one request's method, path and headers."""
        with self._lock:
            self.paths.append((method, path))
            self.headers.append(headers)

    def seen_text(self) -> str:
        """Every recorded header name and value, one per line (to search for a secret)."""
        with self._lock:
            return "\n".join(f"{k}: {v}" for h in self.headers for k, v in h.items())


class _RecordingHandler(QuietHandler):
    def _forward(self) -> None:
        proxy: RecordingProxy = self.server.owner  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        proxy.record(self.command, self.path, headers)
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else None
        forward = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
        upstream = proxy.upstream.request(
            self.command, proxy.target + self.path, headers=forward, content=body
        )
        out = {
            k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-encoding"}
        }
        if self.command == "HEAD" and "content-length" in upstream.headers:
            self.send_response(upstream.status_code)
            for name, value in out.items():
                self.send_header(name, value)
            self.send_header("Content-Length", upstream.headers["content-length"])
            self.end_headers()
            return
        self.send_body(upstream.status_code, upstream.content, out)

    do_GET = do_HEAD = do_DELETE = do_PUT = do_POST = do_PATCH = _forward
