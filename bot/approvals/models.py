"""What approvals deal in: proposals, decisions, executions, and the stores and runners they need."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from tools.changes.base import Change, ChangeReport
from tools.policy.plans import Plan

ProposalStatus = Literal["pending", "approved", "rejected", "expired", "executing", "done", "failed"]
DecisionOutcome = Literal["approved", "rejected", "forbidden", "expired", "already_decided", "not_found"]


class PlanLookup(Protocol):
    """Loads a stored plan by id (tools.policy.store.PlanStore has it); raises if unknown or tampered."""

    def get(self, plan_id: str) -> Plan: ...

    def save(self, plan: Plan) -> str: ...


class AuditAppender(Protocol):
    """The audit log (bot.approvals.audit.AuditLog): append-only, hash-chained."""

    def append(self, *, actor: str, kind: str, payload: Mapping[str, Any]) -> object: ...


# An approved change -> its report: re-validates and runs it once (bot.app's App.run_change, bound at start).
ChangeRunner = Callable[[Change], ChangeReport]


@dataclass(frozen=True, slots=True)
class Proposal:
    """A stored change awaiting (or past) a decision; `kind` names its kind (tools/changes/kinds.py)."""

    id: str
    plan_id: str
    items_hash: str
    summary: str
    requester: str
    conversation: str
    created_at: datetime
    expires_at: datetime
    status: ProposalStatus
    decided_by: str | None = None
    decided_at: datetime | None = None
    channel: str | None = None
    message_ts: str | None = None
    result: dict[str, Any] | None = None  # the change's run report as JSON, once executed
    kind: str = "plan"  # the kind of change; rows made before kinds existed are plans
    action_id: str | None = None  # changes stored as actions are named here, plans in plan_id

    @property
    def change_id(self) -> str:
        """The id of the proposed change, whichever table it is stored in."""
        return self.action_id or self.plan_id


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one click; `message` is short and safe to show the clicker."""

    outcome: DecisionOutcome
    proposal: Proposal | None
    message: str

    @property
    def changed(self) -> bool:
        """True if this click is the one that decided the proposal."""
        return self.outcome in ("approved", "rejected")


@dataclass(frozen=True, slots=True)
class Execution:
    """What approving led to: the runner's report, or why nothing ran."""

    ran: bool
    proposal: Proposal
    report: ChangeReport | None
    message: str


def human_time(moment: datetime) -> str:
    """A time for people: minutes, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(moment: datetime) -> str:
    """Fixed-width UTC text, as stored."""
    # Fixed-width UTC text so SQL string comparison (expires_at > ?) orders like time.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    """The inverse of iso_time; None stays None."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if text else None


def proposal_from_row(row: Sequence[Any]) -> Proposal:
    """A Proposal from a row of the proposals table (columns in store._COLUMNS order)."""
    pid, plan_id, items_hash, summary, requester, conversation, created, expires, status = row[:9]
    decided_by, decided_at, channel, message_ts, result, kind, action_id = row[9:]
    return Proposal(
        id=pid,
        plan_id=plan_id,
        items_hash=items_hash,
        summary=summary,
        requester=requester,
        conversation=conversation,
        created_at=parse_time(created) or datetime.now(UTC),
        expires_at=parse_time(expires) or datetime.now(UTC),
        status=status,
        decided_by=decided_by,
        decided_at=parse_time(decided_at),
        channel=channel,
        message_ts=message_ts,
        result=json.loads(result) if result else None,
        kind=kind or "plan",
        action_id=action_id,
    )
