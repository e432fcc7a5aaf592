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
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal, Protocol

from pydantic import BaseModel

from tools.changes.revalidate import (
    RegistryReader,
    RepositoryState,
    UsageCheck,
    load_repository_state,
    resolve_in_use,
)
from tools.errors import RegentError
from tools.inventory.models import Deployment
from tools.policy.plans import Plan, PlanItem
from tools.policy.store import ItemResult, ItemStatus, PlanStore

RunStatus = Literal["completed", "already_running", "already_done"]
HEARTBEAT_EVERY = 50  # items; a run heart-beats at least this often so a resume can tell it is alive


class RegistryDeleter(RegistryReader, Protocol):
    """What execution needs from a registry client (tools.registry.client.RegistryClient has it)."""

    def delete_manifest(self, repository: str, digest: str) -> bool: ...


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


@cache
def _process_token() -> str:
    """Random per process: tells this process apart from an earlier one that had the same pid."""
    return secrets.token_hex(4)


def new_runner_id() -> str:
    """Identifies one run: host, process id, process token and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_token()}.{secrets.token_hex(4)}"


def runner_is_gone(runner: str | None) -> bool:
    """True only when `runner` was a process on this host that no longer runs; unknown means alive."""
    host, _, rest = (runner or "").partition(":")
    pid_text, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    if int(pid_text) == os.getpid():  # our pid: an earlier process of ours if its token is not ours
        return not token.startswith(f"{_process_token()}.")
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but is not ours to signal
        return False
    return False


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
