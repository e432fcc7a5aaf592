"""The notification receiver over real HTTP: replays, concurrency, bursts, and every kind of bad post."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.web.events import EventsEndpoint
from bot.web.server import HttpServer, Router
from tests.events_factory import envelope, harbor_payload, wire_event
from tools.events.models import RegistryEvent
from tools.events.store import EventStore

SECRET = "s3cret-token"
AUTH = {"Authorization": f"Bearer {SECRET}"}
V1 = {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}


@dataclass
class Receiver:
    url: str
    store: EventStore
    http: httpx.Client
    handed: list[RegistryEvent] = field(default_factory=list)

    def post(
        self,
        body: bytes,
        *,
        path: str = "/events/registry",
        headers: dict[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        sent = {**AUTH, **V1, **(headers or {})}
        sent = {k: v for k, v in sent.items() if v}
        return (client or self.http).post(self.url + path, content=body, headers=sent)


@pytest.fixture
def receiver(tmp_path: Path, http_client: httpx.Client) -> Iterator[Receiver]:
    store = EventStore(tmp_path / "state.db")
    handed: list[RegistryEvent] = []
    lock = threading.Lock()

    def on_stored(events: Any) -> None:
        with lock:
            handed.extend(events)

    app = EventsEndpoint(store=store, secret=SecretStr(SECRET), max_body_bytes=64 * 1024, on_stored=on_stored)
    router = Router()
    app.mount(router)  # as `regent serve` does
    try:
        with HttpServer(router) as server:
            yield Receiver(server.url, store, http_client, handed)
    finally:
        store.close()


def test_an_envelope_is_stored_and_handed_on(receiver: Receiver) -> None:
    body = envelope(wire_event(event_id="p1", action="push"), wire_event(event_id="p2", action="pull"))
    response = receiver.post(body)
    assert response.status_code == 200
    assert response.json() == {"received": 2, "stored": 2, "duplicates": 0, "ignored": 0}
    assert receiver.store.count() == 2
    assert [e.id for e in receiver.handed] == ["p1", "p2"]


def test_replaying_the_same_events_changes_nothing(receiver: Receiver) -> None:
    body = envelope(*(wire_event(event_id=f"r{i}") for i in range(5)))
    assert receiver.post(body).json()["stored"] == 5
    again = receiver.post(body)
    assert again.status_code == 200 and again.json() == {
        "received": 5,
        "stored": 0,
        "duplicates": 5,
        "ignored": 0,
    }
    assert receiver.store.count() == 5
    assert len(receiver.handed) == 5  # replays are not analysed twice


def test_concurrent_posts_of_overlapping_events_store_each_exactly_once(receiver: Receiver) -> None:
    events = [wire_event(event_id=f"c{i}") for i in range(60)]
    bodies = [envelope(*events[start : start + 30]) for start in (0, 10, 20, 30)] * 4  # heavy overlap
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda b: receiver.post(b, client=client), bodies))
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["stored"] for r in responses) == 60
    assert receiver.store.count() == 60
    assert sorted(e.id for e in receiver.handed) == sorted(e["id"] for e in events)


def test_a_burst_of_distinct_posts_loses_nothing(receiver: Receiver) -> None:
    bodies = [envelope(*(wire_event(event_id=f"b{i}-{j}") for j in range(3))) for i in range(150)]
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(12) as pool:
        statuses = [r.status_code for r in pool.map(lambda b: receiver.post(b, client=client), bodies)]
    assert statuses == [200] * 150
    assert receiver.store.count() == 450


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'"a string"',
        b'{"events": {"id": "x"}}',
        json.dumps({"events": [{"id": "x", "timestamp": "2026-01-01T00:00:00Z", "action": "push"}]}).encode(),
        envelope(wire_event(event_id="ok"), wire_event(event_id="bad", repository="UPPER/Case")),
    ],
    ids=["not-json", "not-object", "events-not-list", "no-target", "one-bad-event"],
)
def test_malformed_bodies_get_400_and_store_nothing(receiver: Receiver, body: bytes) -> None:
    response = receiver.post(body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert receiver.store.count() == 0 and receiver.handed == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": SECRET},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": f"Bearer {SECRET}x"},
    ],
    ids=["missing", "wrong", "no-scheme", "basic", "suffix"],
)
def test_unauthenticated_posts_get_401_and_store_nothing(receiver: Receiver, headers: dict[str, str]) -> None:
    response = receiver.post(envelope(wire_event(event_id="u")), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert receiver.store.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 20_000 + b"]" * 20_000, "nested deeper than"),  # RecursionError in a plain json.loads
        (b'{"events": [], "x": NaN}', "NaN is not a JSON number"),
        (b'{"events": [], "x": 1e999}', "out of range"),
        (b'{"events": [], "x": "\\ud800"}', "unpaired surrogate"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"", "empty body"),
    ],
    ids=["deep", "nan", "huge-float", "surrogate", "not-utf8", "empty"],
)
def test_hostile_json_gets_a_clear_400_and_stores_nothing(
    receiver: Receiver, body: bytes, message: str
) -> None:
    response = receiver.post(body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert receiver.store.count() == 0


def test_the_bearer_scheme_is_case_insensitive(receiver: Receiver) -> None:
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = receiver.post(
            envelope(wire_event(event_id=scheme)), headers={"Authorization": f"{scheme} {SECRET}"}
        )
        assert response.status_code == 200, scheme
    assert receiver.store.count() == 3


def test_a_body_shorter_than_its_length_is_never_used(receiver: Receiver) -> None:
    answer = _raw_post(
        receiver.url, "/events/registry", headers="Content-Length: 1000\r\n", body=b'{"events": ['
    )
    assert answer == b""  # the server waits for the rest, then drops the connection: nothing stored
    assert receiver.store.count() == 0


def test_oversized_posts_get_413_and_store_nothing(receiver: Receiver) -> None:
    body = envelope(*(wire_event(event_id=f"o{i}") for i in range(200)))  # > 64 KiB
    assert len(body) > 64 * 1024
    assert receiver.post(body).status_code == 413
    assert receiver.store.count() == 0


def test_method_media_type_and_length_are_checked(receiver: Receiver) -> None:
    assert receiver.http.get(receiver.url + "/events/registry", headers=AUTH).status_code == 405
    assert receiver.post(b"{}", path="/events/other").status_code == 404
    form = receiver.post(
        envelope(wire_event()), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415
    # No length and no chunked body: refused before reading.
    assert _raw_post(receiver.url, "/events/registry").startswith(b"HTTP/1.1 411")
    assert receiver.store.count() == 0
    # A chunked body is collected by the server (within its own cap) and then checked like any other.
    big = envelope(*(wire_event(event_id=f"k{i}") for i in range(200)))
    chunked = receiver.http.post(
        receiver.url + "/events/registry", content=iter([big]), headers={**AUTH, **V1}
    )
    assert chunked.status_code == 413
    small = envelope(wire_event(event_id="chunked"))
    chunked = receiver.http.post(
        receiver.url + "/events/registry", content=iter([small]), headers={**AUTH, **V1}
    )
    assert chunked.status_code == 200 and receiver.store.count() == 1


def _raw_post(url: str, path: str, *, headers: str = "", body: bytes = b"") -> bytes:
    """A hand-written request, for what httpx will not send (no length at all, a lying length)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
            f"Content-Type: application/json\r\nConnection: close\r\n{headers}\r\n".encode()
            + body
        )
        raw.shutdown(socket.SHUT_WR)  # and send nothing more
        return raw.makefile("rb").read()


def test_distribution_v2_media_type_and_plain_json_are_accepted(receiver: Receiver) -> None:
    v2 = {"Content-Type": "application/vnd.docker.distribution.events.v2+json"}
    assert receiver.post(envelope(wire_event(event_id="v2")), headers=v2).status_code == 200
    plain = {"Content-Type": "application/json; charset=utf-8"}
    assert receiver.post(envelope(wire_event(event_id="plain")), headers=plain).status_code == 200
    assert receiver.store.count() == 2


def test_harbor_webhooks_are_stored_once_per_delivery(receiver: Receiver) -> None:
    body = json.dumps(harbor_payload(kind="PULL_ARTIFACT", operator="robot$ci")).encode()
    harbor = {"Content-Type": "application/json"}
    first = receiver.post(body, path="/events/harbor", headers=harbor)
    redelivered = receiver.post(body, path="/events/harbor", headers=harbor)
    assert first.json()["stored"] == 1 and redelivered.json()["duplicates"] == 1
    scan = json.dumps(harbor_payload(kind="SCANNING_COMPLETED")).encode()
    assert receiver.post(scan, path="/events/harbor", headers=harbor).json()["ignored"] == 1
    [stored] = receiver.store.events()
    assert (stored.format, stored.actor, stored.action) == ("harbor", "robot$ci", "pull")


def test_a_storage_failure_answers_503_so_the_registry_retries(receiver: Receiver) -> None:
    receiver.store.close()
    response = receiver.post(envelope(wire_event(event_id="later")))
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert receiver.handed == []


def test_an_empty_secret_is_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret"):
        EventsEndpoint(store=EventStore(tmp_path / "s.db"), secret=SecretStr(""))
