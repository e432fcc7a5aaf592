"""Proposals: authorization, expiry, and exactly-once decisions and executions under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.approvals import Authorizer, ProposalStore
from bot.approvals.audit import AuditLog
from tools.changes.actions import ActionStore
from tools.changes.base import Change
from tools.changes.retention import ExecutionReport
from tools.changes.store import ChangeStore
from tools.policy.plans import KeptDigest, Plan, PlanItem, PlanRegistry, hash_items
from tools.policy.store import PlanStore

REQUESTER, APPROVER, OTHER_APPROVER, OUTSIDER = "U0REQ", "U0APP", "U0APP2", "U0OUT"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def make_plan(n: int = 3, *, plan_id: str = "plan-test") -> Plan:
    items = [
        PlanItem(
            registry="local",
            repository="team-x/app",
            digest="sha256:" + f"{i:02d}" * 32,
            tags=[f"1.{i}"],
            reason="older than 90 days (created)",
            bytes=1000 * (i + 1),
            kind="image",
        )
        for i in range(n)
    ]
    kept = [
        KeptDigest(
            registry="local",
            repository="team-x/app",
            digest="sha256:" + "ff" * 32,
            tags=["2.0"],
            reason="most recent 1",
        )
    ]
    return Plan(
        plan_id=plan_id,
        created_at=T0,
        policies=["team-x cleanup"],
        registries=[
            PlanRegistry(
                name="local",
                url="http://127.0.0.1:5000",
                kind="distribution",
                access="direct",
                after_delete="run GC",
            )
        ],
        items=items,
        kept=kept,
        reclaimable_bytes=sum(i.bytes for i in items),
        shared_bytes=0,
        items_hash=hash_items(i.model_dump(mode="json") for i in items),
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[ProposalStore, PlanStore, AuditLog, Clock]]:
    db = tmp_path / "regent.db"
    plans, audit, clock = PlanStore(db), AuditLog(db), Clock()
    store = ProposalStore(db, changes=changes_in(db, plans), audit=audit, clock=clock)
    yield store, plans, audit, clock
    store.close()
    plans.close()
    audit.close()


def changes_in(db: Path, plans: PlanStore) -> ChangeStore:
    return ChangeStore(plans=plans, actions=ActionStore(db))


def authorizer(**kw: object) -> Authorizer:
    return Authorizer(users=[APPROVER, OTHER_APPROVER], **kw)  # type: ignore[arg-type]


def report(plan_id: str) -> ExecutionReport:
    return ExecutionReport(
        plan_id=plan_id,
        status="completed",
        runner="t",
        results=[],
        deleted=3,
        already_gone=0,
        skipped=0,
        failed=0,
        freed_bytes_at_least=6000,
        freed_bytes=6000,
        after_delete=[],
        message="3 deleted",
    )


def test_card_comes_from_the_stored_plan(env: tuple[ProposalStore, PlanStore, AuditLog, Clock]) -> None:
    store, plans, _, _ = env
    proposal = store.create(change=make_plan(12), requester=REQUESTER, conversation="c")
    card = store.card(proposal)
    assert card.item_count == 12 and len(card.shown) == 10 and len(card.items) == 12
    assert card.items[0].bytes == 12000 and card.items[0].cells[3] == "11.7 KiB"  # largest first
    assert plans.get(proposal.plan_id).items_hash == proposal.items_hash
    assert proposal.change_id == proposal.plan_id == "plan-test" and proposal.kind == "plan"
    stays = card.view.lines[1]
    assert (stays.name, stays.value) == ("What stays:", "1 digests in scope — most recent 1 (1)")


def test_requester_cannot_approve_own_but_another_approver_can(
    env: tuple[ProposalStore, PlanStore, AuditLog, Clock],
) -> None:
    store, _, audit, _ = env
    proposal = store.create(change=make_plan(), requester=APPROVER, conversation="c")
    own = store.decide(proposal_id=proposal.id, user=APPROVER, decision="approve", authorizer=authorizer())
    assert own.outcome == "forbidden" and "another approver" in own.message
    other = store.decide(
        proposal_id=proposal.id, user=OTHER_APPROVER, decision="approve", authorizer=authorizer()
    )
    assert other.outcome == "approved" and other.proposal and other.proposal.decided_by == OTHER_APPROVER
    kinds = [e.kind for e in audit.entries()]
    assert kinds == ["proposal_created", "decision_refused", "proposal_approved"]
    assert audit.verify().ok


def test_requester_may_approve_when_configured(env: tuple[ProposalStore, PlanStore, AuditLog, Clock]) -> None:
    store, _, _, _ = env
    proposal = store.create(change=make_plan(), requester=APPROVER, conversation="c")
    decision = store.decide(
        proposal_id=proposal.id,
        user=APPROVER,
        decision="approve",
        authorizer=authorizer(requester_may_approve=True),
    )
    assert decision.outcome == "approved"


def test_outsider_and_unconfigured_are_refused(env: tuple[ProposalStore, PlanStore, AuditLog, Clock]) -> None:
    store, _, _, _ = env
    proposal = store.create(change=make_plan(), requester=REQUESTER, conversation="c")
    assert (
        store.decide(
            proposal_id=proposal.id, user=OUTSIDER, decision="reject", authorizer=authorizer()
        ).outcome
        == "forbidden"
    )
    nobody = Authorizer()
    decision = store.decide(proposal_id=proposal.id, user=APPROVER, decision="approve", authorizer=nobody)
    assert decision.outcome == "forbidden" and "No approvers" in decision.message
    assert store.get(proposal.id).status == "pending"  # type: ignore[union-attr]


def test_expired_proposal_is_refused(env: tuple[ProposalStore, PlanStore, AuditLog, Clock]) -> None:
    store, _, _, clock = env
    proposal = store.create(change=make_plan(), requester=REQUESTER, conversation="c", ttl=timedelta(hours=1))
    clock.now = T0 + timedelta(hours=1, seconds=1)
    decision = store.decide(
        proposal_id=proposal.id, user=APPROVER, decision="approve", authorizer=authorizer()
    )
    assert decision.outcome == "expired"
    again = store.decide(proposal_id=proposal.id, user=APPROVER, decision="approve", authorizer=authorizer())
    assert again.outcome == "already_decided" and "expired" in again.message


def test_expire_due_sweeps_only_overdue(env: tuple[ProposalStore, PlanStore, AuditLog, Clock]) -> None:
    store, _, _, clock = env
    short = store.create(
        change=make_plan(plan_id="p1"), requester=REQUESTER, conversation="c", ttl=timedelta(minutes=5)
    )
    long = store.create(change=make_plan(plan_id="p2"), requester=REQUESTER, conversation="c")
    clock.now = T0 + timedelta(minutes=6)
    assert [p.id for p in store.expire_due()] == [short.id]
    assert [p.id for p in store.pending()] == [long.id]


def test_concurrent_clicks_decide_and_execute_once(
    env: tuple[ProposalStore, PlanStore, AuditLog, Clock],
) -> None:
    store, _, audit, _ = env
    proposal = store.create(change=make_plan(), requester=REQUESTER, conversation="c")
    runs: list[str] = []
    lock = threading.Lock()

    def run_plan(plan: Change) -> ExecutionReport:
        with lock:
            runs.append(plan.change_id)
        return report(plan.change_id)

    barrier = threading.Barrier(16)

    def click(i: int) -> str:
        barrier.wait()
        user = APPROVER if i % 2 else OTHER_APPROVER
        decision = store.decide(
            proposal_id=proposal.id, user=user, decision="approve", authorizer=authorizer()
        )
        if decision.changed:
            store.execute(proposal_id=proposal.id, run=run_plan)
        return decision.outcome

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(click, range(16)))
    assert outcomes.count("approved") == 1 and outcomes.count("already_decided") == 15
    assert runs == [proposal.plan_id]
    # A late execute (a retry, a second replica) runs nothing.
    late = store.execute(proposal_id=proposal.id, run=run_plan)
    assert not late.ran and runs == [proposal.plan_id]
    final = store.get(proposal.id)
    assert final is not None and final.status == "done" and final.result and final.result["deleted"] == 3
    kinds = [e.kind for e in audit.entries()]
    assert kinds.count("proposal_approved") == 1 and kinds.count("execution_done") == 1


def test_resume_runs_approved_that_never_ran(tmp_path: Path) -> None:
    db = tmp_path / "regent.db"
    plans = PlanStore(db)
    first = ProposalStore(db, changes=changes_in(db, plans))
    proposal = first.create(change=make_plan(), requester=REQUESTER, conversation="c")
    first.decide(proposal_id=proposal.id, user=APPROVER, decision="approve", authorizer=authorizer())
    first.close()  # "crash" between the decision and the execution
    runs: list[str] = []
    restarted = ProposalStore(db, changes=changes_in(db, plans))

    def run(plan: Change) -> ExecutionReport:
        runs.append(plan.change_id)
        return report(plan.change_id)

    done = restarted.resume(run=run)
    assert runs == [proposal.plan_id] and done[0].proposal.status == "done"
    assert restarted.resume(run=run) == []
    assert runs == [proposal.plan_id]


def test_usergroup_membership_is_cached_briefly_and_failures_refuse() -> None:
    calls: list[str] = []
    members = {"S0OPS": ["U0GROUPIE"]}
    now = [0.0]

    def lookup(group: str) -> list[str]:
        calls.append(group)
        if group == "S0BROKEN":
            raise RuntimeError("slack down")
        return members[group]

    auth = Authorizer(
        usergroups=["S0OPS"], list_usergroup_members=lookup, cache_seconds=60, monotonic=lambda: now[0]
    )
    assert auth.check_approver("U0GROUPIE").allowed
    assert not auth.check_approver("U0OUT").allowed
    assert calls == ["S0OPS"]  # cached
    members["S0OPS"] = []
    now[0] = 61.0
    assert not auth.check_approver("U0GROUPIE").allowed  # removal takes effect after the cache expires
    broken = Authorizer(usergroups=["S0BROKEN"], list_usergroup_members=lookup)
    result = broken.check_approver("U0GROUPIE")
    assert not result.allowed and "Could not check" in result.reason
