"""Registry notifications (distribution envelopes, Harbor default and CloudEvents webhooks): InvalidInput,
with nothing stored, or events whose every identity field follows the registry grammar.

The endpoint test drives the WSGI app in-process, as `regent serve` mounts it: every answer is 200 or a
4xx with a JSON reason, never a 500, and a 4xx stores nothing.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.web.events import EventsEndpoint
from tests.fuzz.samples import DISTRIBUTION, HARBOR, HARBOR_CLOUDEVENT
from tests.fuzz.strategies import bodies, fuzz_settings
from tools.errors import InvalidInput
from tools.events.models import RegistryEvent
from tools.events.parse import PARSERS, parse_distribution, parse_harbor
from tools.events.store import EventStore
from tools.registry.reference import is_valid_repository, is_valid_tag

NOW = datetime(2026, 11, 27, tzinfo=UTC)
SECRET = "fuzz-secret"
DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\Z")
notifications = bodies(DISTRIBUTION, HARBOR, HARBOR_CLOUDEVENT)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    events = EventStore(tmp_path_factory.mktemp("fuzz-events") / "regent.db")
    yield events
    events.close()


def _check(event: RegistryEvent) -> None:
    assert is_valid_repository(event.repository)
    assert event.digest == "" or DIGEST.match(event.digest)
    assert event.tag == "" or is_valid_tag(event.tag)
    assert event.at.tzinfo is not None and event.size >= 0


@fuzz_settings(250)
@given(data=notifications, parser=st.sampled_from((parse_distribution, parse_harbor)))
def test_notifications_parse_or_are_refused(data: bytes, parser: Any) -> None:
    try:
        parsed = parser(data)
    except InvalidInput as exc:
        assert 0 < len(str(exc)) < 1000
        return
    assert parsed.ignored >= 0
    for event in parsed.events:
        _check(event)


@fuzz_settings(100)
@given(data=notifications, fmt=st.sampled_from(sorted(PARSERS)))
def test_a_refused_body_stores_nothing(store: EventStore, data: bytes, fmt: str) -> None:
    before = store.count()
    try:
        parsed = PARSERS[fmt](data)
    except InvalidInput:
        assert store.count() == before
        return
    result = store.add(parsed.events, ignored=parsed.ignored, now=NOW)
    assert store.count() == before + result.stored


def _post(app: EventsEndpoint, path: str, body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    answer: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"bearer {SECRET}",
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "10.0.0.5",
    }
    chunks = app(environ, lambda status, headers, *_: answer.append(status))
    return answer[0], json.loads(b"".join(chunks))


@fuzz_settings(120)
@given(
    data=notifications,
    path=st.sampled_from(("/events/registry", "/events/harbor")),
    content_type=st.sampled_from(
        (
            "application/vnd.docker.distribution.events.v1+json",
            "application/json",
            "application/cloudevents+json",
        )
    ),
)
def test_the_endpoint_answers_200_or_a_4xx_and_a_4xx_stores_nothing(
    store: EventStore, data: bytes, path: str, content_type: str
) -> None:
    app = EventsEndpoint(store=store, secret=SecretStr(SECRET), max_body_bytes=1 << 20)
    before = store.count()
    status, body = _post(app, path, data, content_type)
    code = int(status.split()[0])
    assert code == 200 or 400 <= code < 500, (status, body)
    if code != 200:
        assert body["error"] and store.count() == before
