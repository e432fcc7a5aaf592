"""Who may decide a proposal: configured Slack users, members of configured Slack user groups, and
optionally anyone an extra check admits (the extension point for a Portainer role via a user mapping).

Group membership comes from an injected callable (Slack's `usergroups.users.list` in the bot), cached
briefly: approvals are rare and a removed approver should lose the right within a minute. Any doubt
(a lookup that failed) refuses: deleting is the one thing that must not happen by accident.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

MembersLookup = Callable[[str], Sequence[str]]  # user group id -> user ids; raises when it cannot tell
ExtraCheck = Callable[[str], str | None]  # Slack user id -> why they may approve, or None


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Whether a user may make this decision, and why (shown to the user, written to the audit log)."""

    allowed: bool
    reason: str


class Authorizer:
    """Decides whether a Slack user may approve or reject a proposal."""

    def __init__(
        self,
        *,
        users: Iterable[str] = (),
        usergroups: Iterable[str] = (),
        requester_may_approve: bool = False,
        list_usergroup_members: MembersLookup | None = None,
        cache_seconds: float = 60.0,
        extra_check: ExtraCheck | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = frozenset(users)
        self._groups = tuple(usergroups)
        self._requester_may_approve = requester_may_approve
        self._lookup = list_usergroup_members
        self._ttl = cache_seconds
        self._extra = extra_check
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """True if anyone at all could approve."""
        return bool(self._users or self._groups or self._extra)

    def authorize(
        self, *, user: str, requester: str, decision: Literal["approve", "reject"] = "approve"
    ) -> AuthResult:
        """May `user` make `decision` on a proposal `requester` made?"""
        if decision == "approve" and user == requester and not self._requester_may_approve:
            return AuthResult(False, "You asked for this, so another approver has to approve it.")
        return self.check_approver(user)

    def check_approver(self, user: str) -> AuthResult:
        """Is `user` an approver (listed, in a listed group, or admitted by the extra check)?"""
        if not self.configured:
            return AuthResult(False, "No approvers are configured (slack.approvers in regent.yml).")
        if user in self._users:
            return AuthResult(True, "listed approver")
        unknown: list[str] = []
        for group in self._groups:
            members = self._members(group)
            if members is None:
                unknown.append(group)
            elif user in members:
                return AuthResult(True, f"member of user group {group}")
        if self._extra is not None:
            reason = self._extra(user)
            if reason:
                return AuthResult(True, reason)
        if unknown:
            return AuthResult(
                False, "Could not check approver group membership with Slack; try again shortly."
            )
        return AuthResult(False, "Only approvers can decide (see slack.approvers in regent.yml).")

    def _members(self, group: str) -> frozenset[str] | None:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and cached[0] > now:
            return cached[1]
        if self._lookup is None:
            return None
        try:
            members = frozenset(self._lookup(group))
        except Exception:  # the lookup is Slack over the network: any failure means "cannot tell"
            log.warning("user group %s: membership lookup failed", group, exc_info=True)
            return None
        with self._lock:
            self._cache[group] = (now + self._ttl, members)
        return members


class ReadOnlyAuthorizer(Authorizer):
    """In read-only mode nobody may approve (cards from before the switch); rejecting still works."""

    def __init__(self, *, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reason = reason

    def authorize(
        self, *, user: str, requester: str, decision: Literal["approve", "reject"] = "approve"
    ) -> AuthResult:
        """Approvals are refused with the reason; rejections are checked as usual."""
        if decision == "approve":
            return AuthResult(False, f"Not approved: {self._reason}.")
        return super().authorize(user=user, requester=requester, decision=decision)
