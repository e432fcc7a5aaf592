"""Stored plans in the SQLite state database: immutable bodies, an atomic run claim, per-item results.

The claim (`UPDATE ... WHERE status='stored'`) is what makes a plan run at most once across threads
and processes; per-item result rows let a restarted run tell what was already done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.errors import PlanStoreError
from tools.policy.plans import Plan
from tools.state import RunOnceStore

PlanStatus = Literal["stored", "running", "done"]
ItemStatus = Literal["deleted", "already_gone", "skipped", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    items_hash TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'stored',
    runner TEXT,
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
CREATE TRIGGER IF NOT EXISTS plans_are_immutable BEFORE UPDATE OF id, created_at, items_hash, body ON plans
BEGIN SELECT RAISE(ABORT, 'plans are immutable'); END;
CREATE TRIGGER IF NOT EXISTS plans_are_kept BEFORE DELETE ON plans
BEGIN SELECT RAISE(ABORT, 'plans are never deleted'); END;
CREATE TABLE IF NOT EXISTS plan_results (
    plan_id TEXT NOT NULL REFERENCES plans(id),
    item_index INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (plan_id, item_index)
);
"""


class ItemResult(BaseModel):
    """What execution did with one plan item."""

    model_config = ConfigDict(frozen=True)

    index: int
    registry: str
    repository: str
    digest: str
    tags: list[str]
    status: ItemStatus
    reason: str
    bytes: int


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A stored plan's run state."""

    plan_id: str
    created_at: str
    items_hash: str
    status: PlanStatus
    runner: str | None
    started_at: str | None
    heartbeat_at: str | None
    finished_at: str | None


class PlanStore(RunOnceStore):
    """Saves plans once, claims them for one run, and records per-item results."""

    schema = _SCHEMA
    table, results_table, key_column, what = "plans", "plan_results", "plan_id", "plan"

    def save(self, plan: Plan) -> str:
        """Store a plan; saving the same plan again is a no-op, a different body under its id an error."""
        return self._store(plan.plan_id, plan, error=PlanStoreError)

    def get(self, plan_id: str) -> Plan:
        """Load a stored plan, checking its items against the stored hash."""
        missing = f"no stored plan {plan_id!r}; make one with `regent plan`"
        return self._load(plan_id, Plan, error=PlanStoreError, missing=missing)

    def record(self, plan_id: str) -> PlanRecord:
        """The run state of a stored plan."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, created_at, items_hash, status, runner, started_at, heartbeat_at, finished_at "
                "FROM plans WHERE id = ?",
                (plan_id,),
            ).fetchone()
        if row is None:
            raise PlanStoreError(f"no stored plan {plan_id!r}")
        return PlanRecord(*row)

    def plan_ids(self, *, limit: int = 50) -> list[str]:
        """Most recent plan ids first."""
        with self._lock:
            rows = self._conn.execute("SELECT id FROM plans ORDER BY created_at DESC LIMIT ?", (limit,))
            return [r[0] for r in rows.fetchall()]

    def claim(self, plan_id: str, *, runner: str, now: datetime) -> bool:
        """Atomically move a stored plan to running for this runner; False if anyone got there first."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE plans SET status = 'running', runner = ?, started_at = ?, heartbeat_at = ? "
                "WHERE id = ? AND status = 'stored'",
                (runner, now.isoformat(), now.isoformat(), plan_id),
            )
            return cursor.rowcount == 1

    def reclaim_stale(self, plan_id: str, *, runner: str, now: datetime, stale_after: timedelta) -> bool:
        """Take over a running plan whose runner stopped heart-beating (a crashed process)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE plans SET runner = ?, heartbeat_at = ? "
                "WHERE id = ? AND status = 'running' AND heartbeat_at < ?",
                (runner, now.isoformat(), plan_id, (now - stale_after).isoformat()),
            )
            return cursor.rowcount == 1

    def save_result(self, plan_id: str, result: ItemResult, *, now: datetime) -> None:
        """Record what happened to one item (the first record wins; a restart never rewrites history)."""
        self._record_result(plan_id, result.index, result.status, result.reason, now=now)

    def gone(self, *, limit: int = 200) -> dict[tuple[str, str, str], datetime]:
        """(registry, repository, digest) -> when an execution of the newest `limit` plans found it deleted.

        What Regent deleted (or found already gone) no longer exists, though earlier snapshots saw it
        tagged: history must not offer it again as an untagged leftover (tools/analysis/history.py).
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT r.plan_id, r.item_index, r.at FROM plan_results r JOIN ("
                "SELECT id FROM plans ORDER BY created_at DESC LIMIT ?) p ON p.id = r.plan_id "
                "WHERE r.status IN ('deleted', 'already_gone')",
                (limit,),
            ).fetchall()
        by_plan: dict[str, list[tuple[int, str]]] = {}
        for plan_id, index, at in rows:
            by_plan.setdefault(plan_id, []).append((int(index), at))
        out: dict[tuple[str, str, str], datetime] = {}
        for plan_id, entries in by_plan.items():
            items = self.get(plan_id).items
            for index, at in entries:
                if 0 <= index < len(items):
                    item = items[index]
                    key = (item.registry, item.repository, item.digest)
                    moment = datetime.fromisoformat(at)
                    out[key] = max(out.get(key, moment), moment)
        return out

    def results(self, plan_id: str) -> dict[int, tuple[ItemStatus, str]]:
        """Recorded (status, reason) per item index."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT item_index, status, reason FROM plan_results WHERE plan_id = ?", (plan_id,)
            ).fetchall()
        return {int(index): (status, reason) for index, status, reason in rows}
