"""Actions: stored, hashed, immutable lists of non-registry changes that an approval may run exactly once.

A registry cleanup is a Plan (tools/policy); anything else an approver can allow (suspending a Portainer
user, opening a ticket) is an Action: a kind, a target, and the exact items a card displays, each with a
stable `ref` (a token id, a membership id, ...). The items hash covers kind, target and items, so the
card, the approval and the execution all see one list (design invariant 1).

The store gives each action one run: `claim` (`stored -> running`, conditional UPDATE) is won by one
caller; per-item result rows are written once (INSERT OR IGNORE), so a resumed run skips what is done and
re-checks the rest against the live system before touching it (invariant 3). Executors live next to the
clients they drive (tools/changes/suspension.py, tools/changes/ticket.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ActionStoreError, RegentError
from tools.policy.plans import hash_items
from tools.state import RunOnceStore

ActionStatus = Literal["stored", "running", "done"]
ItemOutcome = Literal["done", "already_gone", "skipped", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    items_hash TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'stored',
    runner TEXT,
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
CREATE TRIGGER IF NOT EXISTS actions_are_immutable BEFORE UPDATE OF id, kind, created_at, items_hash, body
ON actions BEGIN SELECT RAISE(ABORT, 'actions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS actions_are_kept BEFORE DELETE ON actions
BEGIN SELECT RAISE(ABORT, 'actions are never deleted'); END;
CREATE TABLE IF NOT EXISTS action_results (
    action_id TEXT NOT NULL REFERENCES actions(id),
    item_index INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (action_id, item_index)
);
CREATE TABLE IF NOT EXISTS action_attempts (
    action_id TEXT NOT NULL REFERENCES actions(id),
    item_index INTEGER NOT NULL,
    runner TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (action_id, item_index)
);
"""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActionItem(_Frozen):
    """One change exactly as the card shows it; `ref` is what the executor acts on, nothing else."""

    op: str  # e.g. revoke_api_key, remove_team_membership, demote_to_standard_user, create_ticket
    ref: str  # the id in the target system (API key id, membership id, user id, CVE)
    label: str  # what the card shows, e.g. "API key 7 `ptr_abc` (ci deploy), last used 2026-11-20"
    detail: dict[str, Any] = Field(default_factory=dict)  # what re-validation compares (never a secret)


class Action(_Frozen):
    """A stored change request; never changes once made (`items_hash` covers kind, target and items)."""

    action_id: str
    kind: str  # a registered kind of change (tools/changes/kinds.py), e.g. "ticket"
    created_at: datetime
    title: str  # "Suspend Portainer user bob"
    reason: str  # why the requester asked, as given
    target: dict[str, Any]  # e.g. {"user_id": 7, "username": "bob", "role": 1} or the ticket target
    items: list[ActionItem]
    items_hash: str
    warnings: list[str] = []

    @property
    def change_id(self) -> str:
        """The id the change pipeline knows it by (tools/changes/base.py)."""
        return self.action_id

    def verify_hash(self) -> bool:
        """True if items_hash still matches kind, target and items."""
        return action_hash(self.kind, self.target, self.items) == self.items_hash

    def summary(self) -> str:
        """One line for people."""
        return f"{self.title}: {len(self.items)} change{'s' if len(self.items) != 1 else ''}"


def action_hash(kind: str, target: dict[str, Any], items: Iterable[ActionItem]) -> str:
    """sha256 over the canonical JSON of kind, target and items, in order."""
    return hash_items([{"kind": kind, "target": target}, *(i.model_dump(mode="json") for i in items)])


def new_action(
    *,
    kind: str,
    title: str,
    reason: str,
    target: dict[str, Any],
    items: list[ActionItem],
    now: datetime,
    warnings: list[str] | None = None,
) -> Action:
    """A new action with its id and hash."""
    digest = action_hash(kind, target, items)
    return Action(
        action_id=f"act-{now.strftime('%Y%m%d-%H%M%S')}-{digest[7:13]}{secrets.token_hex(3)}",
        kind=kind,
        created_at=now,
        title=title,
        reason=reason,
        target=target,
        items=items,
        items_hash=digest,
        warnings=warnings or [],
    )


class ItemResult(_Frozen):
    """What a run did with one item."""

    index: int
    op: str
    ref: str
    label: str
    status: ItemOutcome
    reason: str


class ActionReport(_Frozen):
    """The outcome of running an action (or of finding it already running)."""

    action_id: str
    kind: str
    status: Literal["done", "already_running", "already_done"]
    results: list[ItemResult]
    message: str

    def count(self, status: ItemOutcome) -> int:
        """Items that ended in this status."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> int:
        """Items that failed (the proposal then ends as failed)."""
        return self.count("failed")


class ActionStore(RunOnceStore):
    """Saves actions once, claims them for one run, and records per-item results."""

    schema = _SCHEMA
    table, results_table, key_column, what = "actions", "action_results", "action_id", "action"

    def save(self, action: Action) -> str:
        """Store an action; the same action again is a no-op, other items under its id an error."""
        return self._store(action.action_id, action, error=ActionStoreError, kind=action.kind)

    def get(self, action_id: str) -> Action:
        """Load a stored action, checking it against the stored hash."""
        return self._load(
            action_id, Action, error=ActionStoreError, missing=f"no stored action {action_id!r}"
        )

    def status(self, action_id: str) -> tuple[ActionStatus, str | None, str | None]:
        """(status, runner, heartbeat_at) of a stored action."""
        row = self._row("SELECT status, runner, heartbeat_at FROM actions WHERE id = ?", (action_id,))
        if row is None:
            raise ActionStoreError(f"no stored action {action_id!r}")
        return row[0], row[1], row[2]

    def claim(
        self, action_id: str, *, runner: str, now: datetime, stale_after: timedelta = timedelta(minutes=10)
    ) -> bool:
        """Take the action's one run (stored -> running), or a run whose runner stopped heart-beating."""
        with self._transaction() as db:
            won = db.execute(
                "UPDATE actions SET status = 'running', runner = ?, started_at = ?, heartbeat_at = ? "
                "WHERE id = ? AND status = 'stored'",
                (runner, now.isoformat(), now.isoformat(), action_id),
            ).rowcount
            if won == 1:
                return True
            taken = db.execute(
                "UPDATE actions SET runner = ?, heartbeat_at = ? "
                "WHERE id = ? AND status = 'running' AND heartbeat_at < ?",
                (runner, now.isoformat(), action_id, (now - stale_after).isoformat()),
            ).rowcount
            return taken == 1

    def save_result(self, action_id: str, result: ItemResult, *, now: datetime) -> None:
        """Record one item's outcome (the first record wins; a resumed run never rewrites history)."""
        self._record_result(action_id, result.index, result.status, result.reason, now=now)

    def attempt(self, action_id: str, index: int, *, runner: str, now: datetime) -> bool:
        """Note that an item is about to be acted on; False if some run already started it."""
        with self._transaction() as db:
            return (
                db.execute(
                    "INSERT OR IGNORE INTO action_attempts (action_id, item_index, runner, at) "
                    "VALUES (?, ?, ?, ?)",
                    (action_id, index, runner, now.isoformat()),
                ).rowcount
                == 1
            )

    def runs(self, kind: str, *, limit: int = 100) -> list[tuple[Action, str | None, str | None]]:
        """Actions of one kind that were run, newest start first: (action, started_at, finished_at)."""
        rows = self._rows(
            "SELECT id, started_at, finished_at FROM actions WHERE kind = ? AND started_at IS NOT NULL "
            "ORDER BY started_at DESC LIMIT ?",
            (kind, limit),
        )
        return [(self.get(row[0]), row[1], row[2]) for row in rows]

    def results(self, action_id: str) -> dict[int, tuple[ItemOutcome, str]]:
        """Recorded (status, reason) per item index."""
        rows = self._rows(
            "SELECT item_index, status, reason FROM action_results WHERE action_id = ?", (action_id,)
        )
        return {int(index): (status, reason) for index, status, reason in rows}


ItemStep = Callable[[int, ActionItem], tuple[ItemOutcome, str]]


def run_action(
    action_id: str,
    *,
    store: ActionStore,
    step: Callable[[Action], ItemStep],
    now: Callable[[], datetime],
    runner: str | None = None,
    recheckable: bool = True,
) -> ActionReport:
    """Claim the action once, then for each item not yet recorded: `step` (re-validate, act), record.

    `step(action)` prepares a per-item function (e.g. after reading the live state once); an item it
    raises on is recorded as failed with the error, and the run goes on. An item a crashed run had
    started is run again only when `recheckable` (its step can tell from the live system whether it
    happened, like a revoked key); otherwise (a POSTed ticket) it is recorded as interrupted, never resent.
    """
    action = store.get(action_id)
    runner = runner or f"run-{secrets.token_hex(4)}"
    status, _, _ = store.status(action_id)
    if status == "done":
        return _report(action, store, "already_done", "This action already ran.")
    if not store.claim(action_id, runner=runner, now=now()):
        return _report(action, store, "already_running", "Another run of this action is in progress.")
    done = store.results(action_id)
    perform = step(action)
    for index, item in enumerate(action.items):
        if index in done:
            continue
        if not store.attempt(action_id, index, runner=runner, now=now()) and not recheckable:
            interrupted = ItemResult(
                index=index,
                op=item.op,
                ref=item.ref,
                label=item.label,
                status="failed",
                reason="an earlier run was interrupted while doing this; check by hand, it is not repeated",
            )
            store.save_result(action_id, interrupted, now=now())
            continue
        try:
            outcome, reason = perform(index, item)
        except RegentError as exc:
            outcome, reason = "failed", str(exc)[:300]
        result = ItemResult(
            index=index, op=item.op, ref=item.ref, label=item.label, status=outcome, reason=reason
        )
        store.save_result(action_id, result, now=now())
        store.heartbeat(action_id, runner=runner, now=now())
    store.finish(action_id, runner=runner, now=now())
    report = _report(action, store, "done", "")
    counts = ", ".join(
        f"{name.replace('_', ' ')} {report.count(name)}"
        for name in ("done", "already_gone", "skipped", "failed")
        if report.count(name)
    )
    return report.model_copy(update={"message": f"{action.title}: {counts or 'nothing to do'}."})


def _report(action: Action, store: ActionStore, status: str, message: str) -> ActionReport:
    recorded = store.results(action.action_id)
    results = [
        ItemResult(
            index=index,
            op=item.op,
            ref=item.ref,
            label=item.label,
            status=recorded[index][0],
            reason=recorded[index][1],
        )
        for index, item in enumerate(action.items)
        if index in recorded
    ]
    return ActionReport.model_validate(
        {
            "action_id": action.action_id,
            "kind": action.kind,
            "status": status,
            "results": results,
            "message": message,
        }
    )
