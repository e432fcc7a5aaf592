"""The registry notification receiver: a WSGI app for `POST /events/registry` (CNCF distribution) and
`POST /events/harbor` (Harbor webhooks), mounted on `regent serve`'s router.

Order of checks, cheapest first and before any byte of the body is read: path and method, the shared
secret (`Authorization: Bearer <secret>`, compared in constant time), the declared length (411 without
one, 413 above the limit), the media type. Then the whole body is parsed and stored in one transaction:
a 4xx changes nothing, a replay stores nothing new, and a storage failure answers 503 so the registry
retries. New events go to `on_stored` (push analysis) after the response is decided, never before.
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from tools.errors import InvalidInput
from tools.events.models import RegistryEvent
from tools.events.parse import PARSERS
from tools.events.store import EventStore

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
OnStored = Callable[[Sequence[RegistryEvent]], None]
PATHS = {"/events/registry": "distribution", "/events/harbor": "harbor"}
# distribution 2.x sends events.v1, 3.x events.v2; Harbor sends application/json (or cloudevents+json).
_JSON_TYPES = ("application/json", "application/cloudevents+json")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EventsEndpoint:
    """A WSGI app serving both notification paths; mount it with `mount(router)`."""

    def __init__(
        self,
        *,
        store: EventStore,
        secret: SecretStr,
        max_body_bytes: int = 4 << 20,
        on_stored: OnStored | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not secret.get_secret_value():
            raise ValueError("the events endpoint needs a non-empty shared secret")
        self._store = store
        self._expected = f"Bearer {secret.get_secret_value()}".encode()
        self._max = max_body_bytes
        self._on_stored = on_stored
        self._now = now

    def mount(self, router: Any) -> None:
        """Mount both paths on a router that has `mount(path, app)` (bot/server.Router)."""
        for path in PATHS:
            router.mount(path, self)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, payload, headers, stored = self._handle(environ)
        body = json.dumps(payload).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers],
        )
        if stored and self._on_stored is not None:
            try:
                self._on_stored(stored)
            except Exception:  # a broken consumer must not make the registry resend stored events
                log.exception("events: handing %d new events to the push monitor failed", len(stored))
        return [body]

    def _handle(
        self, environ: dict[str, Any]
    ) -> tuple[str, dict[str, Any], list[tuple[str, str]], list[RegistryEvent]]:
        fmt = PATHS.get(environ.get("PATH_INFO") or "")
        if fmt is None:
            return "404 Not Found", {"error": "not found"}, [], []
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 Method Not Allowed", {"error": "use POST"}, [("Allow", "POST")], []
        if not self._authorized(environ):
            challenge = [("WWW-Authenticate", 'Bearer realm="regent-events"')]
            return "401 Unauthorized", {"error": "missing or wrong shared secret"}, challenge, []
        length, problem = self._length(environ)
        if problem is not None:
            return problem, {"error": _LENGTH_ERRORS[problem].format(limit=self._max)}, [], []
        if not _json_media_type(environ.get("CONTENT_TYPE") or ""):
            return "415 Unsupported Media Type", {"error": "send JSON"}, [], []
        body = environ["wsgi.input"].read(length)
        if len(body) != length:
            return "400 Bad Request", {"error": "body shorter than Content-Length"}, [], []
        try:
            parsed = PARSERS[fmt](body)
        except InvalidInput as exc:  # InvalidJson or InvalidPayload
            log.info("events: refused a %s body: %s", fmt, exc)
            return "400 Bad Request", {"error": str(exc)}, [], []
        try:
            result = self._store.add(parsed.events, ignored=parsed.ignored, now=self._now())
        except (sqlite3.Error, OSError) as exc:
            log.error("events: storing %d events failed: %s", len(parsed.events), exc)
            return (
                "503 Service Unavailable",
                {"error": "storage unavailable; retry"},
                [("Retry-After", "5")],
                [],
            )
        new = set(result.event_ids)
        stored = [event for event in parsed.events if event.id in new]
        summary = result.model_dump(exclude={"event_ids"})
        return "200 OK", summary, [], stored

    def _authorized(self, environ: dict[str, Any]) -> bool:
        sent = (environ.get("HTTP_AUTHORIZATION") or "").strip().encode()
        return hmac.compare_digest(sent, self._expected)

    def _length(self, environ: dict[str, Any]) -> tuple[int, str | None]:
        raw = environ.get("CONTENT_LENGTH") or ""
        try:
            length = int(raw)
        except ValueError:
            return 0, "411 Length Required"
        if length < 0:
            return 0, "411 Length Required"
        if length > self._max:
            return 0, "413 Content Too Large"
        return length, None


_LENGTH_ERRORS = {
    "411 Length Required": "send a Content-Length",
    "413 Content Too Large": "body larger than {limit} bytes",
}


def _json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))
