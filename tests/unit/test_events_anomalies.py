"""Access anomalies on generated event histories whose anomalies are known in advance."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.events_factory import event
from tools.events.anomalies import AuthAttempt, find_anomalies, network_of
from tools.events.models import RegistryEvent
from tools.events.reports import detect_anomalies
from tools.events.rules import AnomalyRules
from tools.events.stats import Exclusions
from tools.events.store import EventStore

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
RULES = AnomalyRules(baseline_days=30, window_hours=24)
EXCLUDE = Exclusions(actors=("trivy-scanner",))
REG = "registry.example.com:5000"


def _day_history(day: datetime, rng: random.Random) -> list[RegistryEvent]:
    """One ordinary day: CI pushes in office hours, nodes pull from two ranges, a scanner pulls everything."""
    out: list[RegistryEvent] = []
    if day.weekday() < 5:
        for repo in ("shop/api", "shop/web"):
            at = day.replace(hour=rng.randint(9, 16), minute=rng.randint(0, 59))
            out.append(
                event("push", repository=repo, tag=f"b{day:%j}", actor="ci-bot", addr="10.0.3.7", at=at)
            )
        at = day.replace(hour=rng.choice((10, 11)), minute=rng.randint(0, 59))
        out.append(
            event("push", repository="data/etl", tag=f"d{day:%j}", actor="alice", addr="10.0.4.2", at=at)
        )
    for repo in ("shop/api", "shop/web", "data/etl"):
        for _ in range(rng.randint(30, 45)):
            at = day + timedelta(minutes=rng.randint(0, 24 * 60 - 1))
            node = f"10.0.{rng.choice((1, 2))}.{rng.randint(2, 250)}"
            out.append(event("pull", repository=repo, tag="latest", actor="puller", addr=node, at=at))
        scan_at = day.replace(hour=3, minute=rng.randint(0, 59))
        out.append(event("pull", repository=repo, actor="trivy-scanner", addr="10.9.9.9", at=scan_at))
    return out


def _history(seed: int) -> tuple[list[RegistryEvent], list[RegistryEvent]]:
    rng = random.Random(seed)
    window_start = NOW - timedelta(hours=RULES.window_hours)
    baseline: list[RegistryEvent] = []
    window: list[RegistryEvent] = []
    for back in range(RULES.baseline_days + 1, 0, -1):
        day = (window_start - timedelta(days=back - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        for e in _day_history(day, rng):
            if window_start - timedelta(days=RULES.baseline_days) <= e.at < window_start:
                baseline.append(e)
            elif window_start <= e.at < NOW:
                window.append(e)
    return baseline, window


@pytest.mark.parametrize("seed", range(5))
def test_an_ordinary_history_has_no_anomalies(seed: int) -> None:
    baseline, window = _history(seed)
    assert window and baseline
    report = find_anomalies(baseline, window, rules=RULES, exclusions=EXCLUDE, now=NOW, auth=[])
    assert report.anomalies == []
    assert (report.window_events, report.baseline_events) == (len(window), len(baseline))


def _injected() -> list[RegistryEvent]:
    at = NOW - timedelta(hours=15)  # 03:00 UTC inside the window
    injected = [
        event("push", repository="shop/api", tag="evil", actor="mallory", addr="203.0.113.7", at=at),
        event(
            "push", repository="shop/web", tag="night", actor="ci-bot", addr="10.0.3.7", at=at.replace(hour=2)
        ),
    ]
    injected += [
        event(
            "pull",
            repository="shop/web",
            tag="latest",
            actor="puller",
            addr="10.0.1.9",
            at=at + timedelta(seconds=i),
        )
        for i in range(400)
    ]
    injected += [  # a scanner burst is excluded: no spike, no new network
        event(
            "pull",
            repository="shop/api",
            actor="trivy-scanner",
            addr="192.0.2.1",
            at=at + timedelta(seconds=i),
        )
        for i in range(1000)
    ]
    return injected


def test_injected_anomalies_are_found_exactly() -> None:
    baseline, window = _history(7)
    auth = [
        AuthAttempt(
            source="portainer",
            at=NOW - timedelta(hours=2, minutes=10 - i),
            username="admin",
            origin="198.51.100.9",
            success=False,
        )
        for i in range(6)
    ]
    auth.append(
        AuthAttempt(
            source="portainer",
            at=NOW - timedelta(hours=1, minutes=59),
            username="admin",
            origin="198.51.100.9",
            success=True,
        )
    )
    auth += [
        AuthAttempt(
            source="portainer",
            at=NOW - timedelta(hours=5, minutes=i),
            username="bob",
            origin="10.0.4.2",
            success=False,
        )
        for i in range(3)
    ]
    report = find_anomalies(
        baseline, window + _injected(), rules=RULES, exclusions=EXCLUDE, now=NOW, auth=auth
    )
    got = {(a.kind, a.severity, a.key) for a in report.anomalies}
    assert got == {
        ("new_pusher", "high", f"new_pusher:{REG}/shop/api:mallory"),
        ("new_network", "high", f"new_network:{REG}:203.0.113.0/24"),
        ("pull_spike", "medium", f"pull_spike:{REG}:repository:shop/web"),
        ("unusual_hour", "low", "unusual_hour:ci-bot:2026-11-27:02"),
        ("failed_logins", "high", "failed_logins:portainer:username:admin:2026-11-27T15"),
        ("failed_logins", "high", "failed_logins:portainer:origin:198.51.100.9:2026-11-27T15"),
    }
    assert [a.severity for a in report.anomalies] == sorted(
        (a.severity for a in report.anomalies), key={"high": 0, "medium": 1, "low": 2}.__getitem__
    )
    spike = next(a for a in report.anomalies if a.kind == "pull_spike")
    assert spike.count >= 400 and "shop/web" in spike.summary


def test_the_actor_spike_dimension_and_thin_baselines() -> None:
    baseline = [event("pull", actor="bot", addr="10.0.1.1", at=NOW - timedelta(days=3)) for _ in range(5)]
    window = [
        event("pull", actor="bot", repository=f"r/{i % 40}", addr="10.0.1.1", at=NOW - timedelta(hours=1))
        for i in range(120)
    ]
    report = find_anomalies(baseline, window, rules=RULES, exclusions=EXCLUDE, now=NOW)
    kinds = {(a.kind, a.actor, a.repository) for a in report.anomalies}
    assert ("pull_spike", "bot", "") in kinds
    assert not any(a.kind == "new_network" for a in report.anomalies)  # 5 baseline events: too thin to judge
    assert report.auth_attempts is None


def test_switching_rules_off_silences_them() -> None:
    baseline, window = _history(3)
    quiet = RULES.model_copy(
        update={"new_pusher": False, "new_network": False, "pull_spike": False, "unusual_hour": False}
    )
    report = find_anomalies(baseline, window + _injected(), rules=quiet, exclusions=EXCLUDE, now=NOW)
    assert report.anomalies == []


def test_hours_are_counted_in_the_configured_zone_across_dst() -> None:
    # 07:30 UTC in October is 09:30 in Berlin (CEST); 08:00 UTC in late November is 09:00 there (CET).
    baseline = [
        event("push", actor="eve", tag=f"t{i}", at=datetime(2026, 10, 1 + i, 7, 30, tzinfo=UTC))
        for i in range(12)
    ]
    window = [event("push", actor="eve", tag="w", at=NOW - timedelta(hours=10))]
    berlin = RULES.model_copy(update={"timezone": "Europe/Berlin", "hour_slack": 0})
    assert find_anomalies(baseline, window, rules=berlin, exclusions=EXCLUDE, now=NOW).anomalies == []
    utc = RULES.model_copy(update={"hour_slack": 0})
    [odd] = find_anomalies(baseline, window, rules=utc, exclusions=EXCLUDE, now=NOW).anomalies
    assert odd.kind == "unusual_hour" and "08:00 UTC" in odd.summary and "usual hours 07" in odd.summary


@pytest.mark.parametrize(
    ("addr", "network"),
    [("10.1.2.3", "10.1.2.0/24"), ("2001:db8:1:2::5", "2001:db8:1:2::/64"), ("", ""), ("nope", "")],
)
def test_network_of(addr: str, network: str) -> None:
    assert network_of(addr) == network


def test_detection_over_the_store_aggregates_pulls_and_finds_the_same(tmp_path: Path) -> None:
    baseline, window = _history(11)
    events = baseline + window + _injected()
    store = EventStore(tmp_path / "regent.db")
    try:
        store.add(events, now=NOW)
        stored = detect_anomalies(store, rules=RULES, exclusions=EXCLUDE, now=NOW)
    finally:
        store.close()
    direct = find_anomalies(baseline, window + _injected(), rules=RULES, exclusions=EXCLUDE, now=NOW)
    assert [(a.key, a.count, a.first_at, a.last_at) for a in stored.anomalies] == [
        (a.key, a.count, a.first_at, a.last_at) for a in direct.anomalies
    ]
    assert (stored.window_events, stored.baseline_events) == (direct.window_events, direct.baseline_events)
    assert stored.auth_attempts is None  # no auth log was ever copied
