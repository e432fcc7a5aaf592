"""The access_anomalies and cache_advice tools through the Toolbox: bounded, errors as data, no network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.events_factory import event
from tests.fakes.synthetic import NOW, synthetic_snapshot
from tools.errors import Unreachable
from tools.events.access import EventsAccess
from tools.events.client import RateLimit
from tools.events.stats import Exclusions
from tools.events.store import EventStore
from tools.inventory.models import Deployment
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    events = EventStore(tmp_path / "regent.db")
    yield events
    events.close()


def run(toolbox: Toolbox, name: str, args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    outcome = toolbox.call(
        name, json.dumps(args), user="U1", conversation="C1", offered=toolbox.names(proposing=False)
    )
    return outcome, json.loads(outcome.content)


def snapshot_with_upstreams() -> Any:
    snapshot = synthetic_snapshot(tags=40)
    upstream = [
        Deployment(
            environment_id=h,
            environment=f"prod-{h}",
            kind="container",
            name=f"web{h}",
            image="nginx:1.25",
            digest=None,
        )
        for h in range(1, 4)
    ]
    upstream.append(
        Deployment(
            environment_id=1,
            environment="prod-1",
            kind="container",
            name="agent",
            image="ghcr.io/acme/agent:2",
            digest=None,
        )
    )
    return replace(snapshot, deployments=[*snapshot.deployments, *upstream])


def toolbox(
    store: EventStore | None, *, rate_limit: Any = None, mirrors: dict[str, str] | None = None
) -> Toolbox:
    snapshot = snapshot_with_upstreams()
    access = None
    if store is not None:
        access = EventsAccess(
            store=store,
            exclusions=Exclusions(actors=("trivy-*",)),
            mirrors=mirrors or {},
            rate_limit=rate_limit,
            events_url="https://regent.example/events/registry",
        )
    return Toolbox(ToolContext(snapshot=lambda: snapshot, now=lambda: NOW, events=access))


def test_access_anomalies_finds_a_new_pusher_and_filters(store: EventStore) -> None:
    history = [
        event("push", tag=f"b{d}", actor="ci-bot", at=NOW - timedelta(days=d, hours=6)) for d in range(1, 10)
    ]
    history.append(event("push", tag="x", actor="mallory", at=NOW - timedelta(hours=2)))
    store.add(history, now=NOW)
    outcome, body = run(toolbox(store), "access_anomalies", {})
    assert outcome.ok, body
    [row] = body["anomalies"]
    assert (row["kind"], row["severity"], row["actor"]) == ("new_pusher", "high", "mallory")
    assert body["failed_logins_checked"] is False and body["window_events"] == 1
    _, none = run(toolbox(store), "access_anomalies", {"repository": "other/repo"})
    assert none["anomalies"] == []
    _, narrow = run(toolbox(store), "access_anomalies", {"hours": 1})
    assert narrow["anomalies"] == [] and "no registry events" in narrow["note"]


def test_without_notifications_the_tool_explains_how_to_set_them_up() -> None:
    outcome, body = run(toolbox(None), "access_anomalies", {})
    assert outcome.error == "failed"
    assert "REGENT_EVENTS_SECRET" in json.dumps(body)


def test_cache_advice_ranks_upstreams_and_generates_configs(store: EventStore) -> None:
    outcome, body = run(toolbox(store), "cache_advice", {})
    assert outcome.ok, body
    assert [(u["registry"], u["hosts"], u["suggest_cache"]) for u in body["upstreams"]] == [
        ("docker.io", 3, True),
        ("ghcr.io", 1, False),
    ]
    [config] = body["configs"]
    assert "remoteurl: https://registry-1.docker.io" in config["distribution_config"]
    assert "https://regent.example/events/registry" in config["distribution_config"]
    assert json.loads(config["docker_daemon_json"]) == {
        "registry-mirrors": ["https://registry-cache.internal:5000"]
    }
    assert "rate_limit" not in body and "rate_limit_error" not in body  # None fields are left out
    _, bare = run(toolbox(store), "cache_advice", {"include_configs": False, "limit": 1})
    assert bare["configs"] == [] and bare["truncated"] and "showing 1 of 2" in bare["note"]


def test_cache_advice_reports_the_rate_limit_or_why_not(store: EventStore) -> None:
    limit = RateLimit(
        limit=100,
        remaining=12,
        window_seconds=21600,
        source="203.0.113.9",
        authenticated=False,
        checked_at=NOW,
    )
    _, body = run(toolbox(store, rate_limit=lambda: limit), "cache_advice", {"check_rate_limit": True})
    assert (body["rate_limit"]["limit"], body["rate_limit"]["remaining"]) == (100, 12)

    def down() -> RateLimit:
        raise Unreachable("cannot reach Docker Hub (auth.docker.io): ConnectError")

    _, failed = run(toolbox(store, rate_limit=down), "cache_advice", {"check_rate_limit": True})
    assert "rate_limit" not in failed and "cannot reach Docker Hub" in failed["rate_limit_error"]
    _, unset = run(toolbox(store), "cache_advice", {"check_rate_limit": True})
    assert "not configured" in unset["rate_limit_error"]


def test_pulls_through_a_mirror_mark_docker_hub_cached(store: EventStore) -> None:
    store.add([event("pull", registry="mirror:5000", repository="library/nginx") for _ in range(5)], now=NOW)
    _, body = run(toolbox(store, mirrors={"mirror:5000": "docker.io"}), "cache_advice", {})
    docker = body["upstreams"][0]
    assert (docker["registry"], docker["pulls"], docker["cached_by"], docker["suggest_cache"]) == (
        "docker.io",
        5,
        "mirror:5000",
        False,
    )
