"""`regent serve` as a process: SIGTERM in the middle of an approved deletion, JSON logs, /readyz, /metrics.

The registry sits behind a fault proxy that holds the plan's first DELETE, so the SIGTERM lands while the
change is half done. The process must stop taking work at once (its port closes), let the execution
finish once the registry answers, exit 0, and leave the proposal `done` with both tags deleted and the
card updated. It runs with REGENT_LOG_FORMAT=json: every line it writes to stderr is a JSON object.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from bot.app import build_app
from bot.config import Secrets, Settings
from tests.cli import serving_regent
from tests.events_factory import envelope, wire_event
from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.slack_api import TEAM, FakeSlackApi
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, SECRET, sign

EVENTS_SECRET = "stop-test-events-secret"


def click_body(proposal_id: str, *, response_url: str) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": APPROVER, "username": "approver", "team_id": TEAM},
        "api_app_id": "A0APP",
        "team": {"id": TEAM, "domain": "acme"},
        "container": {"type": "message", "message_ts": "1790000000.000001", "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "ops"},
        "message": {"type": "message", "ts": "1790000000.000001", "text": "card"},
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": "regent_approve",
                "block_id": f"proposal:{proposal_id}",
                "value": proposal_id,
                "action_ts": str(time.time()),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def propose(tmp_path: Path, small: SmallRegistry) -> str:
    """A pending proposal of the cleanup plan, in the state directory serve will use."""
    settings = Settings.model_validate(_config(small.server.url))
    runtime = build_app(settings=settings, secrets=Secrets(), state_dir=tmp_path / "state")
    try:
        return runtime.proposals.create(change=small.plan(), requester="U0REQ", conversation="c").id
    finally:
        runtime.close()


def _config(registry_url: str) -> dict[str, object]:
    return {
        "registries": [{"name": "local", "url": registry_url}],
        "slack": {"approvers": {"users": [APPROVER]}},
        "privileges": {"on_start": False},  # its DELETE probe would be the first DELETE the proxy holds
    }


@pytest.mark.real
def test_sigterm_mid_deletion_finishes_it_then_exits(tmp_path: Path, small_registry: SmallRegistry) -> None:
    config = tmp_path / "regent.yml"
    with FaultProxy(small_registry.server.url) as proxy, FakeSlackApi() as fake:
        proposal_id = propose(tmp_path, small_registry)
        config.write_text(json.dumps(_config(proxy.url)))  # serve reaches the registry through the proxy
        proxy.inject(("hold",), method="DELETE")
        env = {
            "REGENT_STATE_DIR": str(tmp_path / "state"),
            "REGENT_CONFIG": str(config),
            "REGENT_LOG_FORMAT": "json",
            "REGENT_EVENTS_SECRET": EVENTS_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-stop-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving_regent(env, home=tmp_path) as served, httpx.Client(timeout=5) as http:
            ready = http.get(f"{served.base}/readyz")
            assert ready.status_code == 200 and ready.json()["failing"] == [], ready.json()
            notified = http.post(
                f"{served.base}/events/registry",
                content=envelope(wire_event(repository="team-x/app", tag="3.0")),
                headers={
                    "Authorization": f"Bearer {EVENTS_SECRET}",
                    "Content-Type": "application/vnd.docker.distribution.events.v1+json",
                },
            )
            assert notified.status_code == 200, notified.text
            body = click_body(proposal_id, response_url=fake.hook_url())
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
            assert http.post(f"{served.base}/slack/events", content=body, headers=headers).status_code == 200
            proxy.wait_until(lambda p: p.held == 1)  # the first DELETE is in flight: the change is half done
            metrics = http.get(f"{served.base}/metrics").text
            assert 'regent_proposals_total{kind="plan",outcome="approved"} 1.0' in metrics
            assert 'regent_webhook_events_total{outcome="stored",source="distribution"} 1.0' in metrics
            served.process.terminate()  # SIGTERM
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # it stops taking work: the port closes
                try:
                    http.get(f"{served.base}/healthz", timeout=0.5)
                except httpx.TransportError:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("regent serve kept answering after SIGTERM")
            assert served.process.poll() is None  # ... but waits for the deletion it started
            proxy.release()
            assert served.process.wait(timeout=20) == 0
        # serving_regent checked the exit code 0 again and collected stderr
    lines = [line for line in served.stderr.splitlines() if line.strip()]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines), served.stderr[-2000:]
    assert any("stopping" in json.loads(line)["message"] for line in lines)
    assert small_registry.tags() == ["2.0"]
    runtime = build_app(
        settings=Settings.model_validate(_config(small_registry.server.url)),
        secrets=Secrets(events_secret=SecretStr(EVENTS_SECRET)),
        state_dir=tmp_path / "state",
    )
    try:
        proposal = runtime.proposals.get(proposal_id)
        assert proposal is not None and proposal.status == "done"
        kinds = [entry.kind for entry in runtime.audit.entries()]
        assert kinds[-2:] == ["execution_started", "execution_done"] and runtime.audit.verify().ok
    finally:
        runtime.close()
    # the outcome goes to the card the click came from (the fake never saw it posted, so it answers
    # message_not_found: what matters is that the finished execution reported)
    final = fake.calls("chat.update")[-1].args
    assert final["ts"] == "1790000000.000001" and "Deleted 2" in json.dumps(final)


@pytest.mark.real
def test_serve_crawls_on_its_schedule_and_is_ready_once_it_has(
    tmp_path: Path, small_registry: SmallRegistry
) -> None:
    config = tmp_path / "regent.yml"
    config.write_text(
        json.dumps({**_config(small_registry.server.url), "inventory": {"crawl_cron": "*/30 * * * *"}})
    )
    with FakeSlackApi() as fake:
        env = {
            "REGENT_STATE_DIR": str(tmp_path / "state"),
            "REGENT_CONFIG": str(config),
            "SLACK_BOT_TOKEN": "xoxb-cron-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving_regent(env, home=tmp_path) as served, httpx.Client(timeout=5) as http:
            deadline = time.monotonic() + 30
            while (ready := http.get(f"{served.base}/readyz")).status_code != 200:
                body = ready.json()  # not ready until the first crawl (no snapshot yet) has finished
                assert body["failing"] == ["inventory"] and time.monotonic() < deadline, body
                time.sleep(0.1)
            assert "min old (limit 90)" in ready.json()["checks"]["inventory"]["detail"]
            metrics = http.get(f"{served.base}/metrics").text
            assert 'regent_crawls_total{kind="full",outcome="ok"} 1.0' in metrics
            assert 'regent_registry_requests_total{registry="local",status="200"}' in metrics
