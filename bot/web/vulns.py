"""`POST /vulns/reports`: CI pipelines upload Trivy/Grype JSON reports to `regent serve`.

A small WSGI app the serve router mounts. Bearer token (REGENT_VULNS_TOKEN, compared in constant time),
`Content-Type: application/json`, a declared `Content-Length` under the configured limit (checked before
reading), then the same all-or-nothing ingest as `regent vulns ingest`. Every refusal is a 4xx with a JSON
body `{"error": …}` that says what to fix; 201 means stored, 200 means this exact report was already stored.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tools.errors import ConfigError
from tools.vulns.images import ImageIndex, build_index
from tools.vulns.ingest import ingest_report
from tools.vulns.store import VulnStore

if TYPE_CHECKING:
    from pydantic import SecretStr

from bot.config import Settings

log = logging.getLogger(__name__)

PATH = "/vulns/reports"
StartResponse = Callable[..., Any]
_READ_CHUNK = 1 << 16


class VulnsEndpoint:
    """The upload handler; one VulnStore connection per request (SQLite transactions are per connection)."""

    def __init__(
        self,
        *,
        token: str,
        store: Callable[[], VulnStore],
        index: Callable[[], ImageIndex],
        max_bytes: int,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._token = token.encode()
        self._store, self._index, self._max_bytes, self._now = store, index, max_bytes, now

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, body, headers = self._handle(environ)
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("vulnerability report upload failed (reference %s)", reference)
            status, body, headers = 500, {"error": f"internal error (reference {reference})"}, []
        data = json.dumps(body).encode()
        reason = _REASONS.get(status, "Error")
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers],
        )
        return [data]

    def _handle(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, {"error": "use POST with a Trivy or Grype JSON report"}, [("Allow", "POST")]
        if not self._authorized(environ.get("HTTP_AUTHORIZATION", "")):
            challenge = [("WWW-Authenticate", 'Bearer realm="regent"')]
            return 401, {"error": "missing or wrong bearer token"}, challenge
        media_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return 415, {"error": f"Content-Type must be application/json, not {media_type or 'none'!r}"}, []
        length = _content_length(environ)
        if length is None:
            return 411, {"error": "send a Content-Length header"}, []
        if length > self._max_bytes:
            return 413, {"error": f"report is {length} bytes; the limit is {self._max_bytes}"}, []
        data = _read_body(environ, length)
        if len(data) < length:
            return 400, {"error": f"body ended after {len(data)} of {length} bytes"}, []
        return self._ingest(data, environ)

    def _authorized(self, header: str) -> bool:
        scheme, _, credential = header.partition(" ")
        if not self._token or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credential.strip().encode(), self._token)

    def _ingest(
        self, data: bytes, environ: dict[str, Any]
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        label = (query.get("source") or [""])[0][:100] or environ.get("REMOTE_ADDR", "unknown")
        store = self._store()
        try:
            result = ingest_report(
                store,
                data,
                source=f"http:{label}",
                index=self._index(),
                now=self._now(),
                max_bytes=self._max_bytes,
            )
        except ConfigError as exc:
            return 400, {"error": str(exc).removeprefix(f"http:{label}: ")}, []
        finally:
            store.close()
        body = result.model_dump(mode="json", exclude={"error"})
        body["unmatched"] = not result.matched_digests
        return (201 if result.status == "stored" else 200), body, []


_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        value = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return value if value >= 0 else None


def _read_body(environ: dict[str, Any], length: int) -> bytes:
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def latest_index(db_path: Path, *, ttl_s: float = 30.0) -> Callable[[], ImageIndex]:
    """The image index of the latest snapshot, rebuilt at most every `ttl_s` seconds."""
    from tools.inventory.store import SnapshotStore

    lock = threading.Lock()
    cached: list[tuple[float, ImageIndex]] = []

    def get() -> ImageIndex:
        with lock:
            if cached and time.monotonic() - cached[0][0] < ttl_s:
                return cached[0][1]
            snapshots = SnapshotStore(db_path)
            try:
                snapshot = snapshots.latest()
            finally:
                snapshots.close()
            index = build_index(snapshot) if snapshot is not None else ImageIndex()
            cached[:] = [(time.monotonic(), index)]
            return index

    return get


def build_vulns_endpoint(*, token: str | None, db_path: Path, max_bytes: int) -> VulnsEndpoint | None:
    """The endpoint for `regent serve`, or None when no upload token is configured (nothing to mount)."""
    if not token:
        return None
    return VulnsEndpoint(
        token=token, store=lambda: VulnStore(db_path), index=latest_index(db_path), max_bytes=max_bytes
    )


def mount_vulns_endpoint(router: Any, *, settings: Settings, db_path: Path, token: SecretStr | None) -> bool:
    """Mount POST /vulns/reports on `regent serve`'s router when an upload token is set; True if mounted."""
    app = build_vulns_endpoint(
        token=token.get_secret_value() if token else None,
        db_path=db_path,
        max_bytes=settings.vulns.max_report_bytes,
    )
    if app is None:
        log.info("vulnerability uploads are off: set %s to enable POST %s", settings.vulns.token_env, PATH)
        return False
    router.mount(PATH, app)
    return True
