"""Socket Mode: the app dials a local websocket server (via fake apps.connections.open) and acks envelopes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.slack_api import TEAM
from tests.fakes.slack_socket import FakeSocketMode
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, REQUESTER, start_slack


def mention_payload(event_id: str, text: str) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": REQUESTER,
        "text": f"<@U0BOT> {text}",
        "ts": "1700000000.000100",
        "channel": CHANNEL,
        "event_ts": "1700000000.000100",
    }
    return {
        "type": "event_callback",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
    }


def command_payload(text: str) -> dict[str, Any]:
    return {
        "team_id": TEAM,
        "channel_id": CHANNEL,
        "user_id": REQUESTER,
        "command": "/regent",
        "text": text,
        "api_app_id": "A0APP",
        "response_url": "",
        "trigger_id": "1.2.3",
    }


def test_socket_mode_acks_events_commands_and_clicks(tmp_path: Path, small_registry: SmallRegistry) -> None:
    with (
        FakeSocketMode() as socket,
        start_slack(tmp_path, registry_url=small_registry.server.url, socket_url=socket.url) as harness,
    ):
        socket.wait_connected()
        assert harness.fake.calls("apps.connections.open")[0].authorization == "Bearer xapp-1-test"
        health = httpx.get(harness.service.http.url + "/healthz").json()
        assert health == {"ok": True, "mode": "socket", "socket_connected": True, "llm": False}

        first = socket.send("events_api", mention_payload("EvS1", "what is stale?"))
        socket.wait_ack(first)
        assert socket.ack_latency(first) < 1.0
        retry = socket.send("events_api", mention_payload("EvS1", "what is stale?"), retry_attempt=1)
        socket.wait_ack(retry)
        harness.fake.wait_for("chat.postMessage")
        time.sleep(0.2)
        assert len(harness.fake.calls("chat.postMessage")) == 1  # the retry was dropped

        help_ack = socket.wait_ack(socket.send("slash_commands", command_payload("help")))
        assert help_ack["response_type"] == "ephemeral" and "/regent plan" in json.dumps(help_ack["blocks"])

        payload = command_payload("plan team-x cleanup")
        payload["response_url"] = harness.fake.hook_url()
        assert "Working on" in socket.wait_ack(socket.send("slash_commands", payload))["text"]
        (proposal,) = _wait_pending(harness)
        ts = harness.wait_card(proposal)
        click = {
            "type": "block_actions",
            "user": {"id": APPROVER},
            "team": {"id": TEAM},
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
            "channel": {"id": CHANNEL},
            "actions": [{"action_id": "regent_approve", "value": proposal}],
        }
        socket.wait_ack(socket.send("interactive", click))
        assert harness.wait_status(proposal, "done") == "done"
        assert small_registry.tags() == ["2.0"]
        socket.drop()  # like Slack closing the socket: the built-in client's close() then takes ~1 s, not ~3


def _wait_pending(harness: Any, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = [p.id for p in harness.proposals.pending()]
        if pending:
            return pending
        time.sleep(0.02)
    raise AssertionError("no proposal was created")
