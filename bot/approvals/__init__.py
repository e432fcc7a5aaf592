"""Approvals: proposals stored server-side, authorized decisions made once, plans executed once."""

from bot.approvals.authorization import Authorizer, AuthResult
from bot.approvals.card import ActionCard, CardItem, ProposalCard, build_action_card, build_card
from bot.approvals.store import (
    DEFAULT_TTL,
    Decision,
    Execution,
    Proposal,
    ProposalStatus,
    ProposalStore,
)

__all__ = [
    "DEFAULT_TTL",
    "ActionCard",
    "AuthResult",
    "Authorizer",
    "CardItem",
    "Decision",
    "Execution",
    "Proposal",
    "ProposalCard",
    "ProposalStatus",
    "ProposalStore",
    "build_action_card",
    "build_card",
]
