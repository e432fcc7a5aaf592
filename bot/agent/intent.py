"""Whether the user's own words ask for a change: the gate for proposing tools.

Deterministic on purpose: a proposing tool is offered to the model only when the current message, or
the same user's previous message in the conversation, asks for that kind of change in words that are
neither negated ("don't delete") nor hypothetical ("how much would removing them free?"): a cleanup
(propose_deletion, propose_retention_cleanup, propose_garbage_collection), suspending a user
(propose_user_suspension), opening a ticket (propose_ticket), or configuring a registry as a pull-through
cache and reverting that (propose_cache_configuration, propose_stack_revert). Text from tools (labels,
annotations, tag names, CVE descriptions) never reaches this check, so an image label saying "delete
everything" or "suspend admin" cannot unlock proposals. It is a necessary condition, not a sufficient
one: a proposal still changes nothing until an authorized approver clicks Approve on a card that shows
exactly the stored items.
"""

from __future__ import annotations

import re

Intent = str  # "cleanup" | "suspension" | "ticket" | "configuration"

_VERB = re.compile(
    r"\b(delete|deleting|deletion|remove|removing|removal|purge|purging|prune|pruning|clean(?:\s|-)?up|"
    r"cleaning(?:\s|-)?up|get\s+rid\s+of|reclaim|free\s+up|garbage[- ]collect(?:ion)?|drop)\b",
    re.IGNORECASE,
)
_SUSPEND = re.compile(
    r"\b(suspend|suspending|suspension|disable|disabling|deactivate|deactivating|lock(?:ing)?\s+(?:\S+\s+){0,3}?out|"
    r"lockout|revoke|revoking|offboard|offboarding|cut\s+off)\b",
    re.IGNORECASE,
)
_TICKET = re.compile(
    r"\b(open|opening|create|creating|file|filing|raise|raising|submit|log|make|cut)\s+(?:\S+\s+){0,3}?"
    r"(ticket|tickets|jira|incident|issue)\b",
    re.IGNORECASE,
)
# A registry's configuration: make it a pull-through cache (mirror) of an upstream, or revert such a change.
_CONFIGURE = re.compile(
    r"\b(?:(?:set\s+up|setup|configure|configuring|enable|enabling|turn|make|apply|applying|switch|use)"
    r"\s+(?:\S+\s+){0,5}?(?:pull[- ]through|cache|caching|mirror|mirroring)"
    r"|revert|reverting|undo|roll\s*back)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"(?:\b(?:don'?t|do\s+not|never|not|without|no)\s+(?:\w+\s+){0,2})$", re.IGNORECASE)
# "how much would removing them free?", "what if we pruned…": asking about a change is not asking for it.
# A clause break ends the hypothetical: "if it is stale, delete it" still asks.
_HYPOTHETICAL = re.compile(r"\b(?:would(?!\s+you)|what\s+if|if|suppose|supposing)\b[^.?!,;]*$", re.IGNORECASE)


def _asks(pattern: re.Pattern[str], text: str) -> bool:
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        if not _NEGATION.search(before) and not _HYPOTHETICAL.search(before):
            return True
    return False


def asks_for_cleanup(text: str) -> bool:
    """True when the text asks to delete, remove, prune or clean up something (and does not negate it)."""
    return _asks(_VERB, text)


def asks_for_suspension(text: str) -> bool:
    """True when the text asks to suspend, disable, deactivate or lock out someone (not negated)."""
    return _asks(_SUSPEND, text)


def asks_for_ticket(text: str) -> bool:
    """True when the text asks to open, create or file a ticket/issue/incident (not negated)."""
    return _asks(_TICKET, text)


def asks_for_configuration(text: str) -> bool:
    """True when the text asks to make a registry a pull-through cache or mirror, or to revert that."""
    return _asks(_CONFIGURE, text)


def asked_intents(text: str) -> frozenset[Intent]:
    """Every kind of change the text asks for: a subset of {"cleanup", "suspension", "ticket",
    "configuration"}."""
    checks = (
        ("cleanup", asks_for_cleanup),
        ("suspension", asks_for_suspension),
        ("ticket", asks_for_ticket),
        ("configuration", asks_for_configuration),
    )
    return frozenset(name for name, check in checks if check(text))
