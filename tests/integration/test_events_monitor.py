"""Anomaly monitoring over the store: Portainer BE auth logs copied from the fake, each anomaly alerted once
through slack_sdk's WebClient, a failed post retried; the digest section; alert text that cannot ping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.serve.monitors import AnomalyMonitor
from bot.slack.alerts import SlackAlertPoster, anomaly_alert_message, escape, push_alert_message
from tests.events_factory import digest_of, event
from tests.fakes.portainer import FakeAuthLog, FakePortainer
from tests.fakes.slack_api import FakeSlackApi
from tools.events.push_analysis import ImageFacts, PushAnalysis, PushFinding
from tools.events.reports import events_digest, refresh_auth_logs
from tools.events.rules import AnomalyRules
from tools.events.stats import Exclusions
from tools.events.store import EventStore
from tools.portainer.client import PortainerClient

NOW = datetime(2026, 11, 27, 18, tzinfo=UTC)
RULES = AnomalyRules()
EXCLUDE = Exclusions(actors=("trivy-*",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    events = EventStore(tmp_path / "regent.db")
    yield events
    events.close()


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


def seed(store: EventStore) -> None:
    """A month of ci-bot pushes at 10:00 and node pulls, then mallory pushing in the window."""
    history = []
    for day in range(1, 29):
        at = NOW - timedelta(days=day, hours=8)
        history.append(event("push", tag=f"b{day}", actor="ci-bot", addr="10.0.3.7", at=at))
        history += [event("pull", tag="latest", actor="node", addr="10.0.1.5", at=at) for _ in range(3)]
    history.append(event("push", tag="evil", actor="mallory", addr="10.0.3.8", at=NOW - timedelta(hours=3)))
    history += [event("pull", tag="latest", actor="node", addr="10.0.1.5", at=NOW - timedelta(hours=2))]
    history += [event("pull", tag="latest", actor="trivy-x", addr="10.0.9.9", at=NOW - timedelta(hours=2))]
    store.add(history, now=NOW)


def failed_logins() -> list[FakeAuthLog]:
    base = int((NOW - timedelta(hours=1)).timestamp())
    return [
        FakeAuthLog(id=i, timestamp=base + i * 30, username="admin", origin="198.51.100.7", type=2)
        for i in range(6)
    ]


def monitor(
    store: EventStore, slack: FakeSlackApi, portainer: PortainerClient | None, *, api_url: str | None = None
) -> AnomalyMonitor:
    return AnomalyMonitor(
        store=store,
        rules=RULES,
        exclusions=EXCLUDE,
        poster=SlackAlertPoster(WebClient(token="xoxb-test", base_url=api_url or slack.api_url)),
        channel="#security",
        portainer=portainer,
        now=lambda: NOW,
    )


def test_each_anomaly_is_alerted_once_with_auth_logs_from_portainer(
    store: EventStore, slack: FakeSlackApi
) -> None:
    seed(store)
    with FakePortainer(edition="BE", auth_logs=failed_logins()) as portainer:
        client = PortainerClient(portainer.url, api_key=portainer.admin.api_keys[0])
        runner = monitor(store, slack, client)
        report, posted = runner.run_once()
        kinds = sorted(a.kind for a in report.anomalies)
        assert kinds == ["failed_logins", "failed_logins", "new_pusher"]
        assert posted == 3 and report.auth_attempts == 6
        [message] = slack.calls("chat.postMessage")
        assert message.ok and message.args["channel"] == "#security" and "mallory" in json.dumps(message.args)
        again, posted_again = runner.run_once()  # same anomalies, nothing new to say
        assert len(again.anomalies) == 3 and posted_again == 0 and len(slack.calls("chat.postMessage")) == 1
        assert refresh_auth_logs(store, client, source=portainer.url) == 0  # nothing newer to copy
        client.close()


def test_a_failed_post_is_retried_on_the_next_run(store: EventStore, slack: FakeSlackApi) -> None:
    seed(store)
    broken = monitor(store, slack, None, api_url="http://127.0.0.1:1/api/")  # Slack unreachable
    assert broken.run_once()[1] == 0
    assert monitor(store, slack, None).run_once()[1] == 1
    assert len(slack.calls("chat.postMessage")) == 1


def test_ce_has_no_auth_logs_and_failed_logins_stay_unchecked(store: EventStore, slack: FakeSlackApi) -> None:
    seed(store)
    with FakePortainer(edition="CE") as portainer:
        client = PortainerClient(portainer.url, api_key=portainer.admin.api_keys[0])
        assert refresh_auth_logs(store, client, source=portainer.url) is None
        report, _ = monitor(store, slack, client).run_once()
        client.close()
    assert report.auth_attempts is None
    assert [a.kind for a in report.anomalies] == ["new_pusher"]


def test_the_digest_section_counts_pushes_pulls_and_exclusions(store: EventStore) -> None:
    seed(store)
    store.record_push_check(
        "x",
        anomalous=True,
        now=NOW - timedelta(hours=1),
        report={
            "registry": "r",
            "repository": "shop/api",
            "tag": "2.0",
            "actor": "alice",
            "findings": [{"severity": "alert", "message": "4.0x the size of 1.1"}],
        },
    )
    digest = events_digest(store, rules=RULES, exclusions=EXCLUDE, now=NOW)
    assert (digest.pushes, digest.counted_pulls, digest.excluded_pulls) == (1, 1, 1)
    assert [(p.repository, p.pulls) for p in digest.top_pulled] == [("shop/api", 1)]
    assert digest.unusual_pushes == ["r/shop/api:2.0 by alice: 4.0x the size of 1.1"]
    assert [a.kind for a in digest.anomalies] == ["new_pusher"] and not digest.empty


def test_alert_text_escapes_registry_supplied_strings() -> None:
    facts = ImageFacts(
        repository="shop/api",
        tag="<!channel>",
        digest=digest_of("x"),
        image_digest=digest_of("x"),
        bytes=3 << 20,
        layers=[],
    )
    analysis = PushAnalysis(
        event_id="e",
        registry="reg:5000",
        repository="shop/api",
        tag="<!channel>",
        digest=digest_of("x"),
        actor="<@U123>",
        pushed_at=NOW,
        current=facts,
        previous=facts.model_copy(update={"tag": "1.0", "bytes": 1 << 20}),
        findings=[PushFinding(rule="size_growth", severity="alert", message="3.0x the size of <b>")],
        size_delta_bytes=2 << 20,
        layers_reused=0,
    )
    message = push_alert_message(analysis)
    sections = json.dumps(message["blocks"][1:])
    assert "<!channel>" not in sections and "<@U123>" not in sections and "&lt;!channel&gt;" in sections
    assert "<!channel>" not in message["text"]
    assert escape("a & <b>") == "a &amp; &lt;b&gt;"


def test_anomaly_messages_stay_within_slack_limits() -> None:
    from tools.events.anomalies import Anomaly

    many = [
        Anomaly(
            kind="pull_spike",
            severity="medium",
            key=f"k{i}",
            summary="x" * 400,
            count=i,
            first_at=NOW,
            last_at=NOW,
        )
        for i in range(60)
    ]
    message = anomaly_alert_message(many, window_hours=24)
    assert len(message["blocks"]) <= 50
    assert all(len(json.dumps(b)) < 3100 for b in message["blocks"])
    assert "40 more not shown" in json.dumps(message["blocks"][-1])
