"""What every kind of change stored as an Action shares: its card, its outcome and its audit record.

An Action (tools/changes/actions.py) is a title, a reason, a target and a list of items, each with a
label; its card lists every label, the target as header facts and the reason on a line of its own. A kind
built on it (a suspension, a ticket, a garbage collection run, a stack update) subclasses
`ActionChangeKind`, names itself, says how its target reads and how its buttons are worded, and runs
its items through `tools.changes.actions.run_action`, which claims the action once and records each
item's outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.changes.actions import Action, ActionReport
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

AUDITED_ITEMS = 200  # labels and results an audit entry keeps; the actions tables keep all of them


class ActionChangeKind:
    """Base of the kinds stored as Actions; subclasses set `name`, the words, `facts` and `run`."""

    name: str = ""
    table: Table = "actions"
    verb: str = "Run"  # the confirm button, e.g. "Suspend"
    nothing_done: str = "Nothing was changed."  # after a rejection or expiry
    nothing_will: str = "Nothing will change."  # on the Reject button's confirmation

    def facts(self, action: Action) -> tuple[Fact, ...]:
        """The target as the card's header shows it (name, value)."""
        return ()

    def run(self, change: Action, *, store: Tables, services: ChangeServices) -> ActionReport:
        """Re-validate and run the action's items once (subclasses bind their client here)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how it runs")

    def view(self, change: Action) -> ChangeView:
        """Every item's label, in order, with the target, the reason and the warnings."""
        count = len(change.items)
        return ChangeView(
            title=f"Proposal: {change.title}",
            items_heading=f"Changes ({count}, exactly these and nothing else)",
            items=tuple(ViewItem(label=item.label) for item in change.items),
            facts=self.facts(change),
            lines=(Fact("Reason:", change.reason or "(none given)"),),
            warnings=tuple(change.warnings),
            wording=Wording(
                verb=self.verb,
                confirm_title=f"{self.verb}: {count} change{'s' if count != 1 else ''}?",
                confirm_text=f"{change.title}. Each item is re-checked just before it is done.",
                nothing_done=self.nothing_done,
                nothing_will=self.nothing_will,
            ),
        )

    def outcome(self, change: Action, result: Mapping[str, Any]) -> OutcomeView:
        """Every item with what the run did and why."""
        report = ActionReport.model_validate(result)
        return OutcomeView(
            summary=report.message,
            items=tuple(ItemOutcome(r.label, r.status, r.reason) for r in report.results),
        )

    def created_audit(self, change: Action) -> dict[str, Any]:
        """The action, every item as displayed, and the requester's reason."""
        return {
            "action_id": change.action_id,
            "action_kind": change.kind,
            "items": [item.label for item in change.items[:AUDITED_ITEMS]],
            "reason": change.reason,
        }

    def done_audit(self, change: Action, report: ActionReport) -> dict[str, Any]:
        """Item by item what was done, so a person can review and undo it."""
        return {
            "action_id": change.action_id,
            "action_kind": change.kind,
            "results": [
                {"op": r.op, "ref": r.ref, "status": r.status, "reason": r.reason}
                for r in report.results[:AUDITED_ITEMS]
            ],
        }
