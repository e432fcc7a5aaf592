"""Execution against an in-memory registry: re-validation, at-most-once, resume, per-item results.

The in-memory registry stands in for the external system only (distribution's DELETE semantics: by
digest, every tag goes); the real registry is exercised in tests/integration/test_execute_e2e.py.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from tests.unit.registry_strategies import NOW, SOURCE, fake_digest
from tests.unit.test_policy_evaluate import DELETE_ALL, image
from tools.changes.retention import execute_plan
from tools.errors import PlanStoreError, Unreachable
from tools.inventory.models import Deployment, Descriptor, Manifest, RegistryInventory
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.plans import Plan, hash_items
from tools.policy.store import ItemResult, PlanStore
from tools.registry.client import ManifestHead, RawManifest
from tools.registry.media_types import OCI_INDEX


class MemoryRegistry:
    """A registry's manifest/tag state with distribution's delete semantics; counts deletes."""

    def __init__(self, tags: dict[str, dict[str, Manifest]], *extra: tuple[str, Manifest]) -> None:
        self.manifests = {m.digest: m for ts in tags.values() for m in ts.values()}
        self.tags = {repo: {t: m.digest for t, m in ts.items()} for repo, ts in tags.items()}
        self.stored = {repo: set(ts.values()) for repo, ts in self.tags.items()}
        for repo, manifest in extra:
            self.manifests[manifest.digest] = manifest
            self.stored.setdefault(repo, set()).add(manifest.digest)
        for digests in self.stored.values():
            for digest in list(digests):
                digests.update(c.digest for c in self.manifests[digest].children)
        self.deletes: list[tuple[str, str]] = []
        self.fail_deletes: set[str] = set()
        self.lock = threading.Lock()

    def inventory(self) -> RegistryInventory:
        return RegistryInventory(
            source=SOURCE,
            tags={r: dict(t) for r, t in self.tags.items()},
            repository_digests={r: set(d) for r, d in self.stored.items()},
            manifests=dict(self.manifests),
        )

    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        digest = self.tags.get(repository, {}).get(reference, reference)
        if digest not in self.stored.get(repository, set()):
            return None
        manifest = self.manifests[digest]
        return ManifestHead(digest, manifest.media_type, manifest.size)

    def get_manifest(self, repository: str, reference: str) -> RawManifest:
        head = self.head_manifest(repository, reference)
        assert head is not None
        children = [{"digest": c.digest} for c in self.manifests[head.digest].children]
        return RawManifest(head.digest, head.media_type, json.dumps({"manifests": children}).encode())

    def list_tags(self, repository: str, *, fresh: bool = False) -> list[str]:
        return sorted(self.tags.get(repository, {}))

    def delete_manifest(self, repository: str, digest: str) -> bool:
        if digest in self.fail_deletes:
            raise Unreachable("connection refused")
        with self.lock:
            if digest not in self.stored.get(repository, set()):
                return False
            self.deletes.append((repository, digest))
            self.stored[repository].discard(digest)
            self.tags[repository] = {t: d for t, d in self.tags[repository].items() if d != digest}
            return True


def make_plan(registry: MemoryRegistry, text: str = DELETE_ALL, deployments: list[Deployment] = ()) -> Plan:  # type: ignore[assignment]
    return evaluate_policies(
        parse_policies(text), registries=[registry.inventory()], deployments=list(deployments), now=NOW
    )


def run(store: PlanStore, plan_id: str, registry: MemoryRegistry, deployments: list[Deployment] = (), **kw):  # type: ignore[no-untyped-def,assignment]
    return execute_plan(
        plan_id,
        store=store,
        clients={"local": registry},
        current_deployments=lambda: list(deployments),
        now=lambda: NOW,
        **kw,
    )


@pytest.fixture
def store(tmp_path: Path) -> PlanStore:
    return PlanStore(tmp_path / "state.db")


def by_digest(report) -> dict[str, ItemResult]:  # type: ignore[no-untyped-def]
    return {r.digest: r for r in report.results}


def test_a_plan_runs_once_and_reports_each_item(store: PlanStore) -> None:
    a, b = image("a", days=400), image("b", days=400)
    registry = MemoryRegistry({"app": {"a": a, "b": b}})
    plan = make_plan(registry)
    store.save(plan)
    report = run(store, plan.plan_id, registry)
    assert (
        report.status == "completed" and report.deleted == 2 and report.freed_bytes == plan.reclaimable_bytes
    )
    assert "garbage-collect" in report.after_delete[0]
    assert store.record(plan.plan_id).status == "done"
    again = run(store, plan.plan_id, registry)
    assert again.status == "already_done" and again.deleted == 2 and len(registry.deletes) == 2


def test_a_tag_moved_between_plan_and_apply_is_skipped(store: PlanStore) -> None:
    a, b, c = image("a", days=400), image("b", days=400), image("c", days=400)
    registry = MemoryRegistry({"app": {"a": a, "b": b, "c": c}})
    plan = make_plan(registry)
    store.save(plan)
    registry.tags["app"]["a"] = c.digest  # someone re-pushed tag a
    registry.tags["app"]["new"] = b.digest  # and tagged b
    report = run(store, plan.plan_id, registry)
    results = by_digest(report)
    assert results[a.digest].status == "skipped" and "tag 'a' moved to" in results[a.digest].reason
    assert (
        results[b.digest].status == "skipped"
        and "'new' now points to this digest" in results[b.digest].reason
    )
    assert results[c.digest].status == "skipped" and "'a' now points" in results[c.digest].reason
    assert registry.deletes == [] and report.freed_bytes is None


def test_something_now_in_use_is_skipped_with_its_dependents(store: PlanStore) -> None:
    c1, c2 = image("c1", days=400), image("c2", days=400)
    index = Manifest(
        fake_digest("idx"), OCI_INDEX, 300, children=(Descriptor(c1.digest, 500), Descriptor(c2.digest, 500))
    )
    a = image("a", days=400)
    registry = MemoryRegistry({"app": {"multi": index, "a": a}}, ("app", c1), ("app", c2))
    plan = make_plan(registry)
    assert len(plan.items) == 4
    store.save(plan)
    now_running = [Deployment(1, "prod", "container", "web", "127.0.0.1:5000/app:multi", None, "running")]
    report = run(store, plan.plan_id, registry, now_running)
    results = by_digest(report)
    assert results[index.digest].reason == "in use: container prod/web, running"
    assert results[c1.digest].status == "skipped" and "goes with" in results[c1.digest].reason
    assert registry.deletes == [("app", a.digest)]


def test_an_index_that_started_listing_a_digest_protects_it(store: PlanStore) -> None:
    a = image("a", days=400)
    registry = MemoryRegistry({"app": {"a": a}})
    plan = make_plan(registry)
    store.save(plan)
    index = Manifest(fake_digest("new-index"), OCI_INDEX, 300, children=(Descriptor(a.digest, 500),))
    registry.manifests[index.digest] = index
    registry.stored["app"].add(index.digest)
    registry.tags["app"] = {"multi": index.digest}  # a moved to nowhere, the index lists it
    report = run(store, plan.plan_id, registry)
    assert "lists this digest" in report.results[0].reason and not registry.deletes


def test_already_gone_counts_as_done_and_failures_are_reported(store: PlanStore) -> None:
    a, b, c = image("a", days=400), image("b", days=400), image("c", days=400)
    registry = MemoryRegistry({"app": {"a": a, "b": b, "c": c}})
    plan = make_plan(registry)
    store.save(plan)
    registry.delete_manifest("app", a.digest)
    registry.deletes.clear()
    registry.fail_deletes.add(b.digest)
    report = run(store, plan.plan_id, registry)
    results = by_digest(report)
    assert results[a.digest].status == "already_gone"
    assert (
        results[b.digest].status == "failed" and "Unreachable: connection refused" in results[b.digest].reason
    )
    assert results[c.digest].status == "deleted"
    assert (
        report.freed_bytes is None
        and report.freed_bytes_at_least == results[a.digest].bytes + results[c.digest].bytes
    )


def test_an_unresolvable_in_use_reference_blocks_its_repository(store: PlanStore) -> None:
    a = image("a", days=400)
    registry = MemoryRegistry({"app": {"a": a}})
    plan = make_plan(registry)
    store.save(plan)

    real_head = registry.head_manifest

    def flaky_head(repository: str, reference: str) -> ManifestHead | None:
        if reference == "ghost":
            raise Unreachable("timeout")
        return real_head(repository, reference)

    registry.head_manifest = flaky_head  # type: ignore[method-assign]
    users = [Deployment(1, "prod", "stack", "shop", "127.0.0.1:5000/app:ghost", None)]
    report = run(store, plan.plan_id, registry, users)
    assert report.results[0].status == "skipped" and "could not resolve" in report.results[0].reason


def test_concurrent_runs_delete_each_item_once(tmp_path: Path) -> None:
    images = {f"t{i}": image(f"img{i}", days=400) for i in range(20)}
    registry = MemoryRegistry({"app": images})
    plan = make_plan(registry)
    PlanStore(tmp_path / "state.db").save(plan)

    def one_click(_: int) -> str:
        return run(PlanStore(tmp_path / "state.db"), plan.plan_id, registry).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(one_click, range(8)))
    assert statuses.count("completed") == 1
    assert len(registry.deletes) == 20 == len(set(registry.deletes))


def _claim_in_process(db: str, plan_id: str) -> bool:
    return PlanStore(db).claim(plan_id, runner=f"proc-{threading.get_ident()}", now=NOW)


def test_the_claim_is_atomic_across_processes(tmp_path: Path, store: PlanStore) -> None:
    registry = MemoryRegistry({"app": {"a": image("a", days=400)}})
    plan = make_plan(registry)
    store.save(plan)
    db = str(tmp_path / "state.db")
    with ProcessPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(_claim_in_process, [db] * 12, [plan.plan_id] * 12))
    assert claims.count(True) == 1


def test_a_crashed_run_is_resumed_without_redoing_items(store: PlanStore) -> None:
    a, b = image("a", days=400), image("b", days=400)
    registry = MemoryRegistry({"app": {"a": a, "b": b}})
    plan = make_plan(registry)
    store.save(plan)
    assert store.claim(plan.plan_id, runner="crashed", now=NOW - timedelta(hours=1))
    first = plan.items[0]
    registry.delete_manifest(first.repository, first.digest)
    store.save_result(
        plan.plan_id,
        ItemResult(
            index=0,
            registry="local",
            repository=first.repository,
            digest=first.digest,
            tags=first.tags,
            status="deleted",
            reason="deleted by digest",
            bytes=first.bytes,
        ),
        now=NOW,
    )
    assert run(store, plan.plan_id, registry).status == "already_running"
    report = run(store, plan.plan_id, registry, resume_stale_after=timedelta(minutes=10))
    assert report.status == "completed" and report.deleted == 2
    assert len(registry.deletes) == 2, "the recorded item was not deleted twice"


def test_stored_plans_are_immutable(tmp_path: Path, store: PlanStore) -> None:
    registry = MemoryRegistry({"app": {"a": image("a", days=400)}})
    plan = make_plan(registry)
    store.save(plan)
    store.save(plan)  # the same plan again is fine
    with pytest.raises(PlanStoreError, match="already stored with other items"):
        store.save(plan.model_copy(update={"items": [], "items_hash": hash_items([])}))
    conn = sqlite3.connect(tmp_path / "state.db")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE plans SET body = '{}' WHERE id = ?", (plan.plan_id,))
    with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
        conn.execute("DELETE FROM plans WHERE id = ?", (plan.plan_id,))
    assert store.get(plan.plan_id) == plan
    with pytest.raises(PlanStoreError, match="no stored plan"):
        store.get("nope")
