"""The content of an approval card, taken only from the stored plan or action (design invariant 1).

Rendering (bot/slack/blocks.py) adds layout, never data: what the approver sees is what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools.changes.actions import Action, ActionReport
from tools.changes.retention import ExecutionReport
from tools.policy.plans import Plan, format_bytes

if TYPE_CHECKING:
    from bot.approvals.store import Proposal

CARD_ITEMS = 10  # items listed on the card itself; the complete list goes in the card's thread


@dataclass(frozen=True, slots=True)
class CardItem:
    """One plan item as the card lists it."""

    registry: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    size: str
    reason: str


@dataclass(frozen=True, slots=True)
class ProposalCard:
    """Everything an approval card shows, taken from the stored plan; rendering adds nothing else."""

    proposal: Proposal
    policies: tuple[str, ...]
    item_count: int
    reclaimable: str
    shared: str
    top_items: tuple[CardItem, ...]
    all_items: tuple[CardItem, ...]
    kept_count: int
    kept_reasons: tuple[tuple[str, int], ...]  # reason -> how many digests it keeps, most first
    after_delete: tuple[str, ...]
    warnings: tuple[str, ...]
    execution: ExecutionSummary | None = None


def build_card(proposal: Proposal, plan: Plan) -> ProposalCard:
    """The card's content from a plan: items by size (largest first), kept digests grouped by reason."""
    items = [
        CardItem(i.registry, i.repository, i.digest, tuple(i.tags), format_bytes(i.bytes), i.reason)
        for i in sorted(plan.items, key=lambda i: (-i.bytes, i.registry, i.repository, i.digest))
    ]
    reasons: dict[str, int] = {}
    for kept in plan.kept:
        reasons[kept.reason] = reasons.get(kept.reason, 0) + 1
    return ProposalCard(
        proposal=proposal,
        policies=tuple(plan.policies),
        item_count=len(plan.items),
        reclaimable=format_bytes(plan.reclaimable_bytes),
        shared=format_bytes(plan.shared_bytes),
        top_items=tuple(items[:CARD_ITEMS]),
        all_items=tuple(items),
        kept_count=len(plan.kept),
        kept_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        after_delete=tuple(f"{r.name}: {r.after_delete}" for r in plan.registries),
        warnings=tuple(plan.warnings),
        execution=summarize_execution(ExecutionReport.model_validate(proposal.result))
        if proposal.result
        else None,
    )


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """An item execution did not simply delete: skipped, failed or already gone, and why."""

    reference: str
    status: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """What a run did, ready to show."""

    deleted: int
    already_gone: int
    skipped: int
    failed: int
    freed: str  # "at least X" or the plan's exact total when every item is gone
    message: str
    not_deleted: tuple[ItemOutcome, ...]
    after_delete: tuple[str, ...]


def summarize_execution(report: ExecutionReport) -> ExecutionSummary:
    """The card's view of an execution report."""
    if report.freed_bytes is not None:
        freed = f"{format_bytes(report.freed_bytes)} after garbage collection"
    else:
        freed = f"at least {format_bytes(report.freed_bytes_at_least)} after garbage collection"
    others = tuple(
        ItemOutcome(f"{r.repository}@{r.digest[:19]}", r.status, r.reason)
        for r in report.results
        if r.status != "deleted"
    )
    return ExecutionSummary(
        deleted=report.deleted,
        already_gone=report.already_gone,
        skipped=report.skipped,
        failed=report.failed,
        freed=freed,
        message=report.message,
        not_deleted=others,
        after_delete=tuple(report.after_delete),
    )


# -- actions (a Portainer user suspension, a ticket) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What a run did with one displayed item."""

    label: str
    status: str
    reason: str


@dataclass(frozen=True, slots=True)
class ActionCard:
    """Everything an action card shows, taken from the stored action; rendering adds nothing else."""

    proposal: Proposal
    kind: str
    title: str
    reason: str
    target: tuple[tuple[str, str], ...]  # (name, value) pairs worth showing, e.g. ("user", "bob (id 7)")
    items: tuple[str, ...]  # every item's label, in order: all of them are shown (card and thread)
    warnings: tuple[str, ...]
    outcomes: tuple[ActionOutcome, ...] = ()
    message: str = ""

    @property
    def item_count(self) -> int:
        """How many changes the action makes."""
        return len(self.items)


def build_action_card(proposal: Proposal, action: Action) -> ActionCard:
    """The card's content from a stored action and, once run, the proposal's stored report."""
    outcomes: tuple[ActionOutcome, ...] = ()
    message = ""
    if proposal.result:
        report = ActionReport.model_validate(proposal.result)
        outcomes = tuple(ActionOutcome(r.label, r.status, r.reason) for r in report.results)
        message = report.message
    return ActionCard(
        proposal=proposal,
        kind=action.kind,
        title=action.title,
        reason=action.reason,
        target=_target_lines(action),
        items=tuple(item.label for item in action.items),
        warnings=tuple(action.warnings),
        outcomes=outcomes,
        message=message,
    )


def _target_lines(action: Action) -> tuple[tuple[str, str], ...]:
    target = action.target
    if action.kind == "portainer_user_suspension":
        return (("Portainer user", f"{target.get('username')} (id {target.get('user_id')})"),)
    lines = [("Tracker", f"{target.get('preset')} webhook {target.get('destination')}")]
    for key, name in (("project", "Project"), ("assignment_group", "Assignment group")):
        if target.get(key):
            lines.append((name, str(target[key])))
    return tuple(lines)
