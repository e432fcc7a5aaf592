"""Approvals: proposals for every kind of change stored server-side, authorized decisions made once,
changes run once, one card model, and the hash-chained audit log."""

from bot.approvals.authorization import Authorizer, AuthResult
from bot.approvals.card import Card, CardItem, Fact, ItemOutcome, OutcomeView, Wording, build_card
from bot.approvals.store import (
    DEFAULT_TTL,
    ChangeRunner,
    Decision,
    Execution,
    Proposal,
    ProposalStatus,
    ProposalStore,
)

__all__ = [
    "DEFAULT_TTL",
    "AuthResult",
    "Authorizer",
    "Card",
    "CardItem",
    "ChangeRunner",
    "Decision",
    "Execution",
    "Fact",
    "ItemOutcome",
    "OutcomeView",
    "Proposal",
    "ProposalStatus",
    "ProposalStore",
    "Wording",
    "build_card",
]
