"""`regent serve` as a process mounts the notification receiver when REGENT_EVENTS_SECRET is set."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cli import serving_regent
from tests.events_factory import envelope, wire_event
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import SECRET as SIGNING_SECRET
from tools.events.store import EventStore

EVENTS_SECRET = "events-cli-secret"
V1 = "application/vnd.docker.distribution.events.v1+json"


def test_regent_serve_receives_registry_notifications(tmp_path: Path) -> None:
    config = tmp_path / "regent.yml"
    config.write_text("events:\n  ignore_actors: [trivy-scanner]\n")
    with FakeSlackApi() as fake:
        env = {
            "REGENT_STATE_DIR": str(tmp_path / "state"),
            "REGENT_CONFIG": str(config),
            "SLACK_BOT_TOKEN": "xoxb-cli-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "REGENT_EVENTS_SECRET": EVENTS_SECRET,
        }
        with serving_regent(env, home=tmp_path) as served:
            base = served.base
            body = envelope(
                wire_event(event_id="cli-1", action="push"), wire_event(event_id="cli-2", action="pull")
            )
            with httpx.Client(timeout=5) as http:
                headers = {"Content-Type": V1, "Authorization": f"Bearer {EVENTS_SECRET}"}
                stored = http.post(f"{base}/events/registry", content=body, headers=headers)
                assert stored.status_code == 200 and stored.json()["stored"] == 2
                assert (
                    http.post(f"{base}/events/registry", content=body, headers=headers).json()["duplicates"]
                    == 2
                )
                wrong = {**headers, "Authorization": "Bearer nope"}
                assert http.post(f"{base}/events/harbor", content=b"{}", headers=wrong).status_code == 401
        assert EVENTS_SECRET not in served.stderr
    store = EventStore(tmp_path / "state" / "regent.db")
    try:
        assert sorted(e.id for e in store.events()) == ["cli-1", "cli-2"]
    finally:
        store.close()
