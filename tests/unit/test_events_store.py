"""The event store: idempotent, all-or-nothing, safe under concurrent writers; and the pull statistics."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.events_factory import NOW, digest_of, event
from tools.analysis.clocks import Clocks
from tools.events.stats import Exclusions, clock_data, pull_stats
from tools.events.store import EventStore
from tools.inventory.models import Manifest


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    events = EventStore(tmp_path / "state.db")
    yield events  # type: ignore[misc]
    events.close()


def test_replaying_a_body_changes_nothing(store: EventStore) -> None:
    batch = [event("push", tag="1.0"), event("pull", tag="1.0")]
    first = store.add(batch, now=NOW)
    again = store.add(batch, now=NOW + timedelta(hours=1))
    assert (first.stored, first.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (0, 2)
    assert store.count() == 2
    assert [e.id for e in store.events()] == [e.id for e in batch]


def test_a_failing_body_stores_none_of_its_events(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    good = event("pull", tag="1.0")
    broken = event("pull", tag="2.0").model_copy(update={"at": "not a time"})  # fails inside the transaction
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        store.add([good, broken], now=NOW)
    assert store.count() == 0


def test_concurrent_posts_of_the_same_events_store_each_once(store: EventStore) -> None:
    batch = [event("pull", tag=f"t{i}", event_id=f"same-{i}") for i in range(50)]
    results = []
    lock = threading.Lock()

    def post() -> None:
        result = store.add(batch, now=NOW)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count() == 50
    assert sum(r.stored for r in results) == 50
    assert sum(r.duplicates for r in results) == 50 * 7


def test_previous_push_is_the_latest_other_digest_tagged_in_the_repository(store: EventStore) -> None:
    old = event("push", tag="1.0", at=NOW - timedelta(days=2))
    mid = event("push", tag="1.1", at=NOW - timedelta(days=1))
    other_repo = event("push", repository="shop/web", tag="9", at=NOW - timedelta(hours=1))
    signature = event("push", tag=f"sha256-{'a' * 64}.sig", at=NOW - timedelta(minutes=5))
    new = event("push", tag="1.2", at=NOW)
    store.add([old, mid, other_repo, signature, new], now=NOW)
    previous = store.previous_push(new)
    assert previous is not None and previous.id == mid.id
    assert store.previous_push(old) is None


def test_pull_stats_exclude_configured_actors_agents_and_regent_itself(store: EventStore) -> None:
    digest = digest_of("api-1.0")
    store.add(
        [
            event("pull", tag="1.0", digest=digest, actor="alice", at=NOW - timedelta(days=30)),
            event("pull", tag="1.0", digest=digest, actor="trivy-scanner", at=NOW - timedelta(days=1)),
            event("pull", tag="", digest=digest, actor="bob", user_agent="Trivy/0.50", at=NOW),
            event("pull", tag="1.0", digest=digest, actor="svc", user_agent="regent/0.1", at=NOW),
            event("push", tag="1.0", digest=digest, at=NOW - timedelta(days=40)),
        ],
        now=NOW,
    )
    exclusions = Exclusions(actors=("trivy-*",), user_agents=("trivy/*",))
    stats = pull_stats(store, exclusions=exclusions, registry="registry.example.com:5000")
    [by_tag] = stats.by_tag
    assert (by_tag.tag, by_tag.pulls, by_tag.excluded_pulls) == ("1.0", 1, 2)
    assert by_tag.last_pulled == NOW - timedelta(days=30)
    [by_digest] = stats.by_digest
    assert (by_digest.pulls, by_digest.excluded_pulls) == (1, 3)
    assert (stats.counted_pulls, stats.excluded_pulls) == (1, 3)
    assert stats.excluded_actors == ["bob", "svc", "trivy-scanner"]

    clocks = clock_data(store, registry="registry.example.com:5000", exclusions=exclusions)
    assert clocks.last_pulled == {digest: NOW - timedelta(days=30)}
    assert clocks.pushed == {digest: NOW - timedelta(days=40)}
    manifest = Manifest(digest=digest, media_type="application/vnd.oci.image.manifest.v1+json", size=1)
    assert Clocks({digest: manifest}, clocks).time(digest, "last_pulled") == NOW - timedelta(days=30)


def test_nothing_counted_means_never_pulled_not_old(store: EventStore) -> None:
    digest = digest_of("only-scanned")
    store.add([event("pull", digest=digest, actor="trivy-scanner")], now=NOW)
    stats = pull_stats(store, exclusions=Exclusions(actors=("trivy-scanner",)))
    [count] = stats.by_digest
    assert (count.pulls, count.last_pulled, count.excluded_pulls) == (0, None, 1)
    assert (
        clock_data(
            store, registry="registry.example.com:5000", exclusions=Exclusions(actors=("trivy-scanner",))
        ).last_pulled
        == {}
    )


def test_claims_and_push_checks_happen_once(store: EventStore) -> None:
    assert store.claim_alert("k", kind="push", now=NOW)
    assert not store.claim_alert("k", kind="push", now=NOW)
    store.release_alert("k")
    assert store.claim_alert("k", kind="push", now=NOW)
    assert store.record_push_check("e1", anomalous=True, report={"x": 1}, now=NOW)
    assert not store.record_push_check("e1", anomalous=False, report={}, now=NOW)
    assert store.push_reports() == [{"x": 1}]
