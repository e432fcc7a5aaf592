"""The registry notification receiver: a WSGI app for `POST /events/registry` (CNCF distribution) and
`POST /events/harbor` (Harbor webhooks), mounted on `regent serve`'s router.

bot/web/requests checks the request (method, `Authorization: Bearer <secret>`, length, media type, JSON)
before anything is used. Then the whole body is parsed and stored in one transaction: a 4xx changes
nothing, a replay stores nothing new, and a storage failure answers 503 so the registry retries. New
events go to `on_stored` (push analysis) after the response is decided, never before.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from bot.errors import RequestRefused
from bot.web.requests import ANY_JSON_TYPES, Environ, Reply, RequestCheck, StartResponse, serve_json
from tools.errors import InvalidPayload
from tools.events.models import RegistryEvent
from tools.events.parse import PARSERS
from tools.events.store import EventStore

log = logging.getLogger(__name__)

OnStored = Callable[[Sequence[RegistryEvent]], None]
Observe = Callable[[str, str, int], None]  # (source, outcome, events): bot.metrics.Metrics.observe_webhook
PATHS = {"/events/registry": "distribution", "/events/harbor": "harbor"}
_STORE_BUSY = Reply(503, {"error": "storage unavailable; retry"}, (("Retry-After", "5"),))


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
        observe: Observe | None = None,
    ) -> None:
        if not secret.get_secret_value():
            raise ValueError("the events endpoint needs a non-empty shared secret")
        # distribution 2.x sends events.v1+json, 3.x events.v2+json; Harbor application/json or
        # cloudevents+json.
        self._check = RequestCheck(
            token=secret.get_secret_value(),
            realm="regent-events",
            max_bytes=max_body_bytes,
            usage="a registry notification",
            media_types=ANY_JSON_TYPES,
        )
        self._store = store
        self._on_stored = on_stored
        self._now = now
        self._observe = observe or (lambda source, outcome, count: None)

    def mount(self, router: Any) -> None:
        """Mount both paths on a router that has `mount(path, app, max_body_bytes=…)` (bot.web.server)."""
        for path in PATHS:
            router.mount(path, self, max_body_bytes=self._check.max_bytes)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return serve_json(environ, start_response, self._handle)

    def _handle(self, environ: Environ) -> Reply:
        fmt = PATHS.get(environ.get("PATH_INFO") or "")
        if fmt is None:
            return Reply(404, {"error": "not found"})
        try:
            document = self._check.read_json(environ, expected=f"a {fmt} notification")
            parsed = PARSERS[fmt](document)
        except InvalidPayload as exc:
            log.info("events: refused a %s body: %s", fmt, exc)
            self._observe(fmt, "refused", 1)
            raise RequestRefused(400, str(exc)) from None
        except RequestRefused:
            self._observe(fmt, "refused", 1)
            raise
        try:
            result = self._store.add(parsed.events, ignored=parsed.ignored, now=self._now())
        except (sqlite3.Error, OSError) as exc:
            log.error("events: storing %d events failed: %s", len(parsed.events), exc)
            self._observe(fmt, "error", len(parsed.events))
            return _STORE_BUSY
        for outcome, count in (("stored", result.stored), ("duplicate", result.duplicates)):
            self._observe(fmt, outcome, count)
        self._observe(fmt, "ignored", result.ignored)  # events of kinds Regent does not keep
        new = set(result.event_ids)
        self._hand_on([event for event in parsed.events if event.id in new])
        return Reply(200, result.model_dump(exclude={"event_ids"}))

    def _hand_on(self, stored: list[RegistryEvent]) -> None:
        """Give newly stored events to `on_stored`; the answer is already decided (200)."""
        if not stored or self._on_stored is None:
            return
        try:
            self._on_stored(stored)
        except Exception:  # a broken consumer must not make the registry resend stored events
            log.exception("events: handing %d new events to the push monitor failed", len(stored))
