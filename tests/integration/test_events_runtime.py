"""The runtime wires the event store into the toolbox: the events tools answer from stored events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import build_app
from bot.config import Secrets, Settings
from tests.events_factory import event

NOW = datetime(2026, 11, 27, 18, tzinfo=UTC)


def test_access_anomalies_reads_the_runtime_event_store(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"events": {"ignore_actors": ["trivy-*"], "anomalies": {"window_hours": 12}}}
    )
    runtime = build_app(settings=settings, secrets=Secrets(), state_dir=tmp_path, clock=lambda: NOW)
    try:
        history = [event("push", tag=f"b{d}", actor="ci", at=NOW - timedelta(days=d)) for d in range(1, 8)]
        runtime.events.add(
            [*history, event("push", tag="x", actor="eve", at=NOW - timedelta(hours=1))], now=NOW
        )
        outcome = runtime.toolbox.call("access_anomalies", "{}", user="U1", conversation="C1")
        body = json.loads(outcome.content)
        assert outcome.ok, body
        assert [a["actor"] for a in body["anomalies"]] == ["eve"]
        assert body["window_start"] == (NOW - timedelta(hours=12)).isoformat()
    finally:
        runtime.close()
