"""HTTP plumbing of the fake Portainer: request and response values and a stdlib handler class."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.fakes.portainer_records import FakeUser

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date", "server"}
)


@dataclass
class Request:
    """One parsed request, with the authenticated user once known."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    user: FakeUser | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters (repeated keys kept)."""
        return parse_qs(self.raw_query, keep_blank_values=True)

    def arg(self, name: str) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    """A response to write back."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status, json.dumps(payload).encode(), {"Content-Type": "application/json"} | (headers or {})
    )


def error(status: int, message: str, details: str = "") -> Response:
    """Portainer's handler error shape."""
    return json_response(status, {"message": message, "details": details})


PLAIN_404 = Response(404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"})


def forwardable(headers: httpx.Headers) -> dict[str, str]:
    """Upstream headers worth passing on (not hop-by-hop, not the length we recompute)."""
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, plain or chunked (httpx streams some uploads chunked)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        handler.rfile.readline()  # the blank line after the last chunk
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def handler_class(handle: Callable[[Request], Response | None]) -> type[BaseHTTPRequestHandler]:
    """A request handler class that parses each request and answers with `handle`'s response."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a Go server; every response has a length

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            req = Request(self.command, parts.path, parts.query, headers, read_body(self))
            resp = handle(req)
            if resp is None:
                self.close_connection = True
                return
            self.send_response(resp.status)
            for name, value in resp.headers.items():
                self.send_header(name, value)
            if not any(k.lower() == "content-length" for k in resp.headers):
                self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read counters, not logs."""

    return Handler
