"""`POST /vulns/reports`: CI pipelines upload Trivy/Grype JSON reports to `regent serve`.

A small WSGI app the serve router mounts. bot/web/requests checks the request (bearer token
REGENT_VULNS_TOKEN, `Content-Type: application/json`, a declared `Content-Length` under the configured
limit, JSON), then the same all-or-nothing ingest as `regent vulns ingest` runs. Every refusal is a 4xx
with a JSON body `{"error": …}` that says what to fix; 201 means stored, 200 means this exact report was
already stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from bot.errors import RequestRefused
from bot.web.requests import Environ, Reply, RequestCheck, StartResponse, serve_json
from tools.errors import ConfigError
from tools.vulns.images import ImageIndex, build_index
from tools.vulns.ingest import ingest_report
from tools.vulns.store import VulnStore

if TYPE_CHECKING:
    from pydantic import SecretStr

from bot.config import Settings

log = logging.getLogger(__name__)

PATH = "/vulns/reports"


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
        self.check = RequestCheck(
            token=token, realm="regent", max_bytes=max_bytes, usage="a Trivy or Grype JSON report"
        )
        self._store, self._index, self._max_bytes, self._now = store, index, max_bytes, now

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return serve_json(environ, start_response, self._handle)

    def _handle(self, environ: Environ) -> Reply:
        # "file" and the expected kind keep the CLI's wording: "empty file; expected a Trivy or Grype …".
        document = self.check.read_json(environ, what="file", expected="a Trivy or Grype JSON report")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        label = (query.get("source") or [""])[0][:100] or environ.get("REMOTE_ADDR", "unknown")
        store = self._store()
        try:
            result = ingest_report(
                store,
                document,
                source=f"http:{label}",
                index=self._index(),
                now=self._now(),
                max_bytes=self._max_bytes,
            )
        except ConfigError as exc:
            raise RequestRefused(400, str(exc).removeprefix(f"http:{label}: ")) from None
        finally:
            store.close()
        body = result.model_dump(mode="json", exclude={"error"})
        body["unmatched"] = not result.matched_digests
        return Reply(201 if result.status == "stored" else 200, body)


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
    router.mount(PATH, app, max_body_bytes=app.check.max_bytes)
    return True
