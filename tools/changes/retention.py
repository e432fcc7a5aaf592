"""Execute a stored plan: the only code in Regent that deletes anything from a registry.

At most once: a plan is claimed with an atomic UPDATE in the state database, so a second click, a retry
or a second process gets "already running/done" and deletes nothing. Every item is re-validated against
the registry right before its delete (design invariant 3): its digest must still not be in use, each of
its tags must still point to it, no other tag may have moved onto it, and no index may have started
listing it. What no longer holds is skipped with a reason; "already gone" counts as done; a dependent
(index child, signature) is skipped when the item it goes with was not deleted. Results are recorded per
item as they happen, so a restarted run (resume_stale_after) continues where the crashed one stopped. A run
whose runner was a process on this host that no longer exists (killed, crashed; or a restarted container
that got the same pid) is taken over at once instead of after the heartbeat went stale.

`RETENTION` is the plan's kind of change (tools/changes/base.py): its card (items largest first, what
stays and why, bytes after garbage collection), its executor and its audit record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from tools.changes.base import (
    ChangeServices,
    ChangeView,
    Fact,
    ItemOutcome,
    OutcomeView,
    Table,
    Tables,
    ViewItem,
    Wording,
)
from tools.changes.revalidate import (
    RegistryDeleter,
    RepositoryState,
    UsageCheck,
    load_repository_state,
    resolve_in_use,
)
from tools.errors import RegentError
from tools.inventory.models import Deployment
from tools.policy.plans import Plan, PlanItem
from tools.policy.store import ItemResult, ItemStatus, PlanStore
from tools.state import new_runner_id, runner_is_gone
from tools.units import format_bytes

RunStatus = Literal["completed", "already_running", "already_done"]
HEARTBEAT_EVERY = 50  # items; a run heart-beats at least this often so a resume can tell it is alive


Clients = Mapping[str, RegistryDeleter] | Callable[[str], RegistryDeleter]


class ExecutionReport(BaseModel):
    """What a run did, item by item, and what is still needed to free disk."""

    plan_id: str
    status: RunStatus
    runner: str
    results: list[ItemResult]
    deleted: int
    already_gone: int
    skipped: int
    failed: int
    freed_bytes_at_least: int  # exclusive bytes of items now gone: freed whatever else happened
    freed_bytes: int | None  # the plan's dedup-correct total, when every item is gone; else unknown
    after_delete: list[str]  # per registry: what frees the disk (garbage collection etc.)
    message: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


def execute_plan(
    plan_id: str,
    *,
    store: PlanStore,
    clients: Clients,
    current_deployments: Callable[[], Sequence[Deployment]],
    now: Callable[[], datetime] = _utcnow,
    runner: str | None = None,
    resume_stale_after: timedelta | None = None,
    workers: int = 4,
) -> ExecutionReport:
    """Run a stored plan at most once, re-validating each item; returns per-item results."""
    plan = store.get(plan_id)
    runner = runner or new_runner_id()
    deployments = list(current_deployments())  # before the claim: if this fails, the plan stays runnable
    if not store.claim(plan_id, runner=runner, now=now()):
        record = store.record(plan_id)
        stale_after = resume_stale_after
        if stale_after is not None and runner_is_gone(record.runner):
            stale_after = timedelta(0)  # its process is dead: no need to wait for the heartbeat to age
        resumed = (
            stale_after is not None
            and record.status == "running"
            and store.reclaim_stale(plan_id, runner=runner, now=now(), stale_after=stale_after)
        )
        if not resumed:
            status: RunStatus = "already_done" if record.status == "done" else "already_running"
            return _not_run(plan, store, runner, status)
    run = _Run(plan, store, clients, runner, now, workers)
    run.execute(deployments)
    store.finish(plan_id, runner=runner, now=now())
    return _report(plan, run.results, runner, "completed")


class _Run:
    """One claimed run of a plan."""

    def __init__(
        self,
        plan: Plan,
        store: PlanStore,
        clients: Clients,
        runner: str,
        now: Callable[[], datetime],
        workers: int,
    ) -> None:
        self.plan, self.store, self.runner, self.now, self.workers = plan, store, runner, now, workers
        self._clients = clients
        self.previous = store.results(plan.plan_id)  # a resumed run keeps what is already recorded
        self.results: dict[int, ItemResult] = {}
        self.gone: set[tuple[str, str, str]] = set()  # (registry, repository, digest) deleted or gone

    def client(self, registry: str) -> RegistryDeleter:
        clients = self._clients
        return clients[registry] if isinstance(clients, Mapping) else clients(registry)

    def execute(self, deployments: list[Deployment]) -> None:
        usage = resolve_in_use(self.plan, deployments, self.client)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(self.plan.items):
            groups.setdefault((item.registry, item.repository), []).append(index)
        for (registry, repository), indexes in groups.items():
            pending = [i for i in indexes if i not in self.previous]
            for index in indexes:
                if index in self.previous:
                    self._remember(_result(index, self.plan.items[index], *self.previous[index]))
            if not pending:
                continue
            try:
                state = load_repository_state(self.client(registry), repository, workers=self.workers)
            except RegentError as exc:
                for index in pending:
                    self._save(index, "skipped", f"could not re-check the repository's tags: {exc}")
                continue
            for count, index in enumerate(pending, start=1):
                self._execute_item(index, usage, state)
                if count % HEARTBEAT_EVERY == 0:
                    self.store.heartbeat(self.plan.plan_id, runner=self.runner, now=self.now())
            self.store.heartbeat(self.plan.plan_id, runner=self.runner, now=self.now())

    def _execute_item(self, index: int, usage: UsageCheck, state: RepositoryState) -> None:
        item = self.plan.items[index]
        problem = self._owner_problem(item) or usage.problem(item) or state.problem(item)
        if problem is not None:
            self._save(index, "skipped", problem)
            return
        client = self.client(item.registry)
        try:
            if client.head_manifest(item.repository, item.digest) is None:
                self._save(index, "already_gone", "no longer in the registry")
            elif client.delete_manifest(item.repository, item.digest):
                self._save(index, "deleted", "deleted by digest")
            else:
                self._save(index, "already_gone", "already gone when deleted")
        except RegentError as exc:
            self._save(index, "failed", f"{type(exc).__name__}: {exc}")
            return
        state.forget(item.digest)

    def _owner_problem(self, item: PlanItem) -> str | None:
        for owner in item.deleted_with:
            if (item.registry, item.repository, owner) not in self.gone:
                return f"goes with {owner}, which was not deleted"
        return None

    def _save(self, index: int, status: ItemStatus, reason: str) -> None:
        result = _result(index, self.plan.items[index], status, reason)
        self.store.save_result(self.plan.plan_id, result, now=self.now())
        self._remember(result)

    def _remember(self, result: ItemResult) -> None:
        self.results[result.index] = result
        if result.status in ("deleted", "already_gone"):
            self.gone.add((result.registry, result.repository, result.digest))


def _result(index: int, item: PlanItem, status: ItemStatus, reason: str) -> ItemResult:
    return ItemResult(
        index=index,
        registry=item.registry,
        repository=item.repository,
        digest=item.digest,
        tags=list(item.tags),
        status=status,
        reason=reason,
        bytes=item.bytes,
    )


def _not_run(plan: Plan, store: PlanStore, runner: str, status: RunStatus) -> ExecutionReport:
    recorded = store.results(plan.plan_id)
    results = {i: _result(i, plan.items[i], s, r) for i, (s, r) in recorded.items() if i < len(plan.items)}
    return _report(plan, results, runner, status)


def _report(plan: Plan, results: dict[int, ItemResult], runner: str, status: RunStatus) -> ExecutionReport:
    ordered = [results[i] for i in sorted(results)]
    counts = {
        s: sum(1 for r in ordered if r.status == s) for s in ("deleted", "already_gone", "skipped", "failed")
    }
    gone = [r for r in ordered if r.status in ("deleted", "already_gone")]
    complete = len(gone) == len(plan.items)
    touched = {r.registry for r in ordered if r.status == "deleted"}
    notes = [f"{reg.name}: {reg.after_delete}" for reg in plan.registries if reg.name in touched]
    messages = {
        "completed": f"{counts['deleted']} deleted, {counts['already_gone']} already gone, "
        f"{counts['skipped']} skipped, {counts['failed']} failed",
        "already_running": "this plan is already being executed by another run; nothing was done",
        "already_done": "this plan was already executed; a plan runs once, make a new plan to go again",
    }
    return ExecutionReport(
        plan_id=plan.plan_id,
        status=status,
        runner=runner,
        results=ordered,
        deleted=counts["deleted"],
        already_gone=counts["already_gone"],
        skipped=counts["skipped"],
        failed=counts["failed"],
        freed_bytes_at_least=sum(r.bytes for r in gone),
        freed_bytes=plan.reclaimable_bytes if complete else None,
        after_delete=notes,
        message=messages[status],
    )


# -- the retention plan as a kind of change -----------------------------------------------------------

CARD_ITEMS = 10  # rows on the card's table; every item is listed in the card's thread
AUDITED_RESULTS = 200  # per-item results an execution_done entry keeps (the plan_results table has all)


class RetentionKind:
    """A retention plan: deletes manifests by digest from registries (`regent plan`, the agent, a digest)."""

    name = "plan"
    table: Table = "plans"

    def view(self, change: Plan) -> ChangeView:
        """Items largest first, what stays grouped by reason, the bytes garbage collection frees."""
        plan = change
        items = sorted(plan.items, key=lambda i: (-i.bytes, i.registry, i.repository, i.digest))
        count, reclaimable = len(plan.items), format_bytes(plan.reclaimable_bytes)
        shared = f" ({format_bytes(plan.shared_bytes)} of it shared between these items)"
        return ChangeView(
            title=f"Cleanup proposal: delete {count} manifests, reclaim {reclaimable}",
            items_heading="To delete (largest first)",
            items=tuple(_view_item(item) for item in items),
            facts=(Fact("Policies", ", ".join(plan.policies) or "(none)", code=True),),
            lines=(
                Fact(
                    "Reclaimable after garbage collection:",
                    reclaimable + (shared if plan.shared_bytes else ""),
                ),
                Fact("What stays:", _kept_line(plan)),
            ),
            columns=("repository", "digest", "tags", "size", "why"),
            card_items=CARD_ITEMS,
            bytes=plan.reclaimable_bytes,
            warnings=tuple(plan.warnings),
            notes=tuple(f"{r.name}: {r.after_delete}" for r in plan.registries),
            wording=Wording(
                verb="Delete",
                confirm_title=f"Delete {count} manifests?",
                confirm_text=f"Deletes {count} manifests by digest ({reclaimable} after garbage collection). "
                "Each item is re-checked just before it is deleted.",
                running="Deleting now…",
                nothing_done="Nothing was deleted.",
                nothing_will="Nothing will be deleted.",
            ),
        )

    def run(self, change: Plan, *, store: Tables, services: ChangeServices) -> ExecutionReport:
        """Delete the plan's items once, re-validated against fresh deployments and registries."""
        with services.registry_clients() as clients:
            return execute_plan(
                change.plan_id,
                store=store.plans,
                clients=clients,
                current_deployments=services.current_deployments,
                now=services.now,
                resume_stale_after=timedelta(minutes=10),
            )

    def outcome(self, change: Plan, result: Mapping[str, Any]) -> OutcomeView:
        """Counts, bytes freed, and every item that was not simply deleted, with why."""
        report = ExecutionReport.model_validate(result)
        if report.freed_bytes is not None:
            freed = f"{format_bytes(report.freed_bytes)} after garbage collection"
        else:
            freed = f"at least {format_bytes(report.freed_bytes_at_least)} after garbage collection"
        return OutcomeView(
            summary=f"Deleted {report.deleted}, already gone {report.already_gone}, skipped "
            f"{report.skipped}, failed {report.failed}. Freed {freed}.",
            items=tuple(
                ItemOutcome(f"{r.repository}@{r.digest[:19]}", r.status, r.reason)
                for r in report.results
                if r.status != "deleted"
            ),
            notes=tuple(report.after_delete),
        )

    def created_audit(self, change: Plan) -> dict[str, Any]:
        """The plan's id, size and policies (the plans table keeps every item)."""
        return {
            "plan_id": change.plan_id,
            "items": len(change.items),
            "reclaimable_bytes": change.reclaimable_bytes,
            "policies": list(change.policies),
        }

    def done_audit(self, change: Plan, report: ExecutionReport) -> dict[str, Any]:
        """Counts, bytes, and item by item what happened (so a person can review it)."""
        return {
            "plan_id": report.plan_id,
            "status": report.status,
            "deleted": report.deleted,
            "already_gone": report.already_gone,
            "skipped": report.skipped,
            "failed": report.failed,
            "freed_bytes_at_least": report.freed_bytes_at_least,
            "results": [
                {
                    "repository": r.repository,
                    "digest": r.digest,
                    "tags": r.tags,
                    "status": r.status,
                    "reason": r.reason,
                }
                for r in report.results[:AUDITED_RESULTS]
            ],
            "results_not_listed": max(len(report.results) - AUDITED_RESULTS, 0),
        }


def _view_item(item: PlanItem) -> ViewItem:
    tags = ", ".join(_cut(tag, 40) for tag in item.tags[:5]) or "untagged"
    tags += f" and {len(item.tags) - 5} more" if len(item.tags) > 5 else ""
    size = format_bytes(item.bytes)
    return ViewItem(
        label=f"{item.registry}/{item.repository}@{item.digest[:19]}… [{tags}] {size}: {item.reason}",
        ref=item.digest,
        cells=(
            _tail(item.repository, 36),
            item.digest.removeprefix("sha256:")[:12],
            _cut(", ".join(item.tags) or "(untagged)", 24),
            size,
            _cut(item.reason, 28),
        ),
        bytes=item.bytes,
    )


def _kept_line(plan: Plan) -> str:
    if not plan.kept:
        return "nothing else in scope."
    reasons: dict[str, int] = {}
    for kept in plan.kept:
        reasons[kept.reason] = reasons.get(kept.reason, 0) + 1
    ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:6]
    return f"{len(plan.kept)} digests in scope — " + "; ".join(f"{r} ({n})" for r, n in ranked)


def _tail(text: str, limit: int) -> str:
    # The end of a repository path names the image; the start is usually a shared team prefix.
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


RETENTION = RetentionKind()
