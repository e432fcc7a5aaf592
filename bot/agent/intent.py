"""Whether the user's own words ask for a deletion or cleanup: the gate for proposing tools.

Deterministic on purpose: the proposing tools (propose_deletion, propose_retention_cleanup) are offered
to the model only when the current message, or the same user's previous message in the conversation,
contains a cleanup verb that is not negated ("don't delete"). Text from tools (labels, annotations, tag
names) never reaches this check, so an image label saying "delete everything" cannot unlock proposals.
It is a necessary condition, not a sufficient one: a proposal still deletes nothing until an
authorized approver clicks Approve on a card that shows exactly the stored plan.
"""

from __future__ import annotations

import re

_VERB = re.compile(
    r"\b(delete|deleting|deletion|remove|removing|removal|purge|purging|prune|pruning|clean(?:\s|-)?up|"
    r"cleaning(?:\s|-)?up|get\s+rid\s+of|reclaim|free\s+up|garbage[- ]collect|drop)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"(?:\b(?:don'?t|do\s+not|never|not|without|no)\s+(?:\w+\s+){0,2})$", re.IGNORECASE)


def asks_for_cleanup(text: str) -> bool:
    """True when the text asks to delete, remove, prune or clean up something (and does not negate it)."""
    for match in _VERB.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        if not _NEGATION.search(before):
            return True
    return False
