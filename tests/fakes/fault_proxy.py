"""An HTTP proxy on loopback that forwards to a real server and injects faults on demand.

Faults are queued per request: each request takes the next fault (if any) and otherwise is forwarded
unchanged. Kinds: ("status", code, headers) answers without forwarding; ("tamper",) forwards and flips a
byte of the body; ("reset",) closes the connection without an answer.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

import httpx

from tests.fakes.http_server import BackgroundServer, QuietHandler

Fault = tuple[Any, ...]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy(BackgroundServer):
    """Forward every request to `target`, applying queued faults first."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.faults: deque[Fault] = deque()
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.upstream = httpx.Client(timeout=30)
        super().__init__(_ProxyHandler)

    def inject(self, *faults: Fault) -> None:
        """Queue faults for the next requests, in order."""
        with self.lock:
            self.faults.extend(faults)

    def next_fault(self, method: str) -> Fault | None:
        """Count a request and take its fault, if one is queued."""
        with self.lock:
            self.seen[method] += 1
            return self.faults.popleft() if self.faults else None


class _ProxyHandler(QuietHandler):
    def _proxy(self) -> None:
        proxy: FaultProxy = self.server.owner  # type: ignore[attr-defined]
        fault = proxy.next_fault(self.command)
        if fault and fault[0] == "reset":
            self.close_connection = True
            self.connection.close()
            return
        if fault and fault[0] == "status":
            headers = dict(fault[2]) if len(fault) > 2 else {}
            self.send_body(fault[1], b'{"errors":[{"code":"INJECTED"}]}', headers)
            return
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = proxy.upstream.request(
            self.command, proxy.target + self.path, headers=headers, content=body
        )
        content = upstream.content
        if fault and fault[0] == "tamper" and content:
            content = bytes([content[0] ^ 1]) + content[1:]
        out = {
            k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-encoding"}
        }
        self.send_response(upstream.status_code)
        for name, value in out.items():
            self.send_header(name, value)
        self.send_header(
            "Content-Length",
            upstream.headers.get("content-length", str(len(content)))
            if self.command == "HEAD"
            else str(len(content)),
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_DELETE = do_PUT = do_POST = do_PATCH = _proxy
