"""A scriptable fake registry over real HTTP, for documents and answers a real registry refuses to store.

Routes map a path (no query) to a canned answer; every request is recorded with its headers so tests
can prove what was (and was not) sent where. Unknown paths answer 404 with a registry error body.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http_server import BackgroundServer, QuietHandler


@dataclass(frozen=True)
class Answer:
    """One canned answer; `stream` sends the body without Content-Length and closes (chunk-less)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]


class FakeRegistry(BackgroundServer):
    """The fake; fill `routes` before or while serving."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        super().__init__(_handler(self))

    def manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """Serve a manifest document under a tag (and under its digest); returns the digest."""
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        answer = Answer(body=body, headers={"Content-Type": media_type, "Docker-Content-Digest": digest})
        self.routes[f"/v2/{repository}/manifests/{reference}"] = answer
        self.routes[f"/v2/{repository}/manifests/{digest}"] = answer
        return digest

    def blob(self, repository: str, body: bytes) -> str:
        """Serve a blob by digest; returns the digest."""
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.routes[f"/v2/{repository}/blobs/{digest}"] = Answer(body=body)
        return digest

    def json(self, path: str, data: Any) -> None:
        """Serve a JSON document (catalog, tag list)."""
        self.routes[path] = Answer(
            body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
        )

    def paths(self) -> list[str]:
        """Every path requested, in order."""
        with self._lock:
            return [s.path for s in self.seen]


def _handler(fake: FakeRegistry) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _serve(self) -> None:
            with fake._lock:
                fake.seen.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = fake.routes.get(self.path.split("?", 1)[0])
            if answer is None:
                body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}'
                self.send_body(404, body, {"Content-Type": "application/json"})
                return
            if answer.stream:
                self.close_connection = True
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    for start in range(0, len(answer.body), 1 << 16):
                        self.wfile.write(answer.body[start : start + (1 << 16)])
                return
            self.send_body(answer.status, answer.body, answer.headers)

        do_GET = do_HEAD = do_DELETE = do_POST = _serve

    return Handler


def image_manifest(config: str, config_size: int, layers: list[tuple[str, int]] | None = None) -> bytes:
    """An OCI image manifest document."""
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": config_size,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
            for d, s in (layers or [])
        ],
    }
    return json.dumps(doc).encode()


def index_manifest(children: list[str]) -> bytes:
    """An OCI index document listing these manifest digests."""
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": 100}
            for d in children
        ],
    }
    return json.dumps(doc).encode()
