"""One store for every kind of change: save once, load by (kind, id) checked against the hash, run once.

Underneath are the two tables changes have always lived in, each with its exactly-once bookkeeping
(tools/state.py RunOnceStore): `plans` (tools/policy/store.py) and `actions` (tools/changes/actions.py).
A kind names its table; everything above this module (approvals, Slack, the CLI) sees one interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tools.changes.actions import ActionStore
from tools.changes.base import Change, ChangeKind, ChangeReport, ChangeServices, ChangeView, OutcomeView
from tools.changes.kinds import KINDS
from tools.errors import StoreError
from tools.policy.store import PlanStore


class ChangeStore:
    """Every stored change, whatever its kind; the kinds come from tools/changes/kinds.py."""

    def __init__(
        self,
        *,
        plans: PlanStore,
        actions: ActionStore,
        kinds: Iterable[ChangeKind[Any]] = KINDS,
    ) -> None:
        self.plans = plans
        self.actions = actions
        self._tables: dict[str, Any] = {"plans": plans, "actions": actions}
        self._kinds: dict[str, ChangeKind[Any]] = {kind.name: kind for kind in kinds}

    @classmethod
    def open(cls, db_path: Path | str) -> ChangeStore:
        """Both tables of one state database (close() closes them)."""
        return cls(plans=PlanStore(db_path), actions=ActionStore(db_path))

    def close(self) -> None:
        """Close both tables' connections."""
        self.plans.close()
        self.actions.close()

    @property
    def kinds(self) -> Mapping[str, ChangeKind[Any]]:
        """The registered kinds by name."""
        return self._kinds

    def kind(self, name: str) -> ChangeKind[Any]:
        """The registered kind of this name; StoreError if there is none."""
        try:
            return self._kinds[name]
        except KeyError:
            raise StoreError(f"unknown kind of change {name!r}; it cannot be shown or run") from None

    def table(self, name: str) -> str:
        """Which table a kind of change is stored in ("plans" or "actions")."""
        return self.kind(name).table

    def save(self, change: Change) -> str:
        """Store a change once (the same change again is a no-op); returns its id."""
        saved: str = self._tables[self.table(change.kind)].save(change)
        return saved

    def get(self, kind: str, change_id: str, *, items_hash: str | None = None) -> Any:
        """Load a stored change, checked against its own hash and, if given, the hash a person saw."""
        change = self._tables[self.table(kind)].get(change_id)
        if change.kind != kind:
            raise StoreError(f"{change_id} is a {change.kind}, not a {kind}")
        if items_hash is not None and change.items_hash != items_hash:
            raise StoreError(f"stored {kind} {change_id} has other items than the ones shown")
        return change

    def view(self, change: Change) -> ChangeView:
        """What the approval card shows about this change."""
        return self.kind(change.kind).view(change)

    def outcome(self, change: Change, result: Mapping[str, Any]) -> OutcomeView:
        """A stored run report as per-item outcomes."""
        return self.kind(change.kind).outcome(change, result)

    def run(self, change: Change, *, services: ChangeServices) -> ChangeReport:
        """Run an approved change once through its kind's executor (re-validating every item)."""
        return self.kind(change.kind).run(change, store=self, services=services)

    def created_audit(self, change: Change) -> dict[str, Any]:
        """What the audit log records when the change is proposed."""
        return self.kind(change.kind).created_audit(change)

    def done_audit(self, change: Change, report: Any) -> dict[str, Any]:
        """What the audit log records when the change has run."""
        return self.kind(change.kind).done_audit(change, report)
