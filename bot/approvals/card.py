"""The one card model: what an approval card shows for any kind of change (design invariant 1).

Its content comes only from the stored change, through its kind's view (tools/changes/base.py), and, once
run, from the report stored with the proposal. Rendering (bot/slack/cards.py, the terminal in
bot/commands/chat.py) adds layout, never data: what the approver sees is what was stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.approvals.models import Proposal
from tools.changes.base import (
    Change,
    ChangeKind,
    ChangeView,
    Fact,
    ItemOutcome,
    OutcomeView,
    ViewItem,
    Wording,
)

__all__ = [
    "Card",
    "CardItem",
    "Fact",
    "ItemOutcome",
    "OutcomeView",
    "Wording",
    "build_card",
]

CardItem = ViewItem  # one item as displayed: label, exact ref, table cells, bytes


@dataclass(frozen=True, slots=True)
class Card:
    """Everything an approval card shows, for every kind of change; rendering adds nothing else."""

    proposal: Proposal
    view: ChangeView
    outcome: OutcomeView | None = None  # once run: summary, the items worth listing, what else it takes

    @property
    def title(self) -> str:
        """The card's header."""
        return self.view.title

    @property
    def facts(self) -> tuple[Fact, ...]:
        """The header line's named values (policies, the Portainer user, the tracker)."""
        return self.view.facts

    @property
    def items(self) -> tuple[CardItem, ...]:
        """Every item, in display order."""
        return self.view.items

    @property
    def item_count(self) -> int:
        """How many items the change has."""
        return len(self.view.items)

    @property
    def shown(self) -> tuple[CardItem, ...]:
        """The items the card itself lists; the rest go in its thread."""
        return self.view.items[: self.view.card_items]

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the approver should know before deciding."""
        return self.view.warnings

    @property
    def wording(self) -> Wording:
        """The words around the buttons and the outcome."""
        return self.view.wording


def build_card(proposal: Proposal, change: Change, kind: ChangeKind[Any]) -> Card:
    """The card of a proposal from its stored change and, once run, the proposal's stored report."""
    result: Mapping[str, Any] | None = proposal.result
    outcome = kind.outcome(change, result) if result else None
    return Card(proposal=proposal, view=kind.view(change), outcome=outcome)
