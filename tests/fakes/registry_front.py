"""A fake registry vendor in front of a real one: native API routes answered here, v2 passed through.

Docker Hub, ACR, GAR, GHCR, GitLab, Harbor and Quay cannot run here. Their fakes answer their own REST
routes (checked against the vendor's spec in the tests) and forward everything else to a real Debian
`docker-registry`, so manifests, configs, digests and deletes stay real. A kind's fake changes the v2
behaviour where its vendor does (no catalog on Docker Hub, 403 on a tagged delete, GAR's dangling-tag
error) by answering those paths itself; `route` sees every request first.

    def route(request: Request) -> Response | None:   # None: pass it to the real registry
        ...
    with RegistryFront(registry.url, route) as front:  # front.url is the vendor's host
        ...
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.fakes.http_server import BackgroundServer, QuietHandler
from tests.fakes.portainer_http import HOP_BY_HOP, Request, Response

Route = Callable[[Request], "Response | None"]


class RegistryFront(BackgroundServer):
    """Serve `route` on a loopback port; requests it does not answer go to `upstream` unchanged."""

    def __init__(self, upstream: str, route: Route) -> None:
        self.upstream = upstream.rstrip("/")
        self.route = route
        self.seen: list[tuple[str, str]] = []  # (method, path?query) of every request, in order
        self._lock = threading.Lock()
        super().__init__(_handler(self))

    def count(self, method: str | None = None, prefix: str = "") -> int:
        """Requests seen so far, optionally of one method and under a path prefix."""
        with self._lock:
            return sum(1 for m, p in self.seen if (method is None or m == method) and p.startswith(prefix))

    def record(self, method: str, target: str) -> None:
        """Remember one request (called by the handler)."""
        with self._lock:
            self.seen.append((method, target))

    def forward(self, request: Request) -> Response:
        """The real registry's answer to the same request."""
        parts = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        target = request.path + (f"?{request.raw_query}" if request.raw_query else "")
        headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP and k != "host"}
        try:
            connection.request(request.method, target, body=request.body or None, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            kept = {k: v for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP}
            if request.method == "HEAD" and answer.getheader("Content-Length"):
                kept["Content-Length"] = answer.getheader("Content-Length") or "0"
            return Response(answer.status, body, kept)
        finally:
            connection.close()


def _handler(front: RegistryFront) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=parts.path,
                raw_query=parts.query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            front.record(self.command, self.path)
            answer = front.route(request)
            if answer is None:
                answer = front.forward(request)
            if self.command == "HEAD":
                # A HEAD answer keeps the GET's Content-Length (Docker-Content-Digest checks rely on it).
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if "content-length" not in {k.lower() for k in answer.headers}:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                return
            self.send_body(answer.status, answer.body, answer.headers)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
