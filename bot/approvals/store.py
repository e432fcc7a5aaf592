"""Proposals: a stored plan waiting for an authorized Approve, decided exactly once, executed exactly once.

Exactly-once rests on two conditional UPDATEs in the state database, so it holds across threads, Slack
retries, two approvers clicking together, several replicas and restarts:
- deciding: `status pending -> approved|rejected WHERE status='pending' AND expires_at > now`; the one
  statement that changes a row wins, every other click is told who decided first;
- executing: `status approved -> executing WHERE status='approved'`; only that claimant calls the plan
  runner, which itself claims the plan once in the plan store (tools/changes/retention.py), so even a second
  process that somehow got here would delete nothing.
The card shows the stored plan (`card()` loads it by id and checks its items hash), and the button carries
only the proposal id: what was displayed is what runs (design invariants 1 and 3).

A proposal references either a plan (`kind='plan'`, a registry cleanup) or a stored action
(tools/changes/actions.py: a Portainer user suspension, a ticket): same decide(), same claim;
`execute` runs the
plan through `run_plan` and an action through the action runner bound at startup (`bind_action_runner`),
which claims the action once and records each item's outcome.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from bot.approvals.authorization import Authorizer
from bot.approvals.card import ActionCard, ProposalCard, build_action_card, build_card
from bot.approvals.models import (
    ActionLookup,
    ActionRunner,
    AuditAppender,
    Decision,
    DecisionOutcome,
    Execution,
    PlanLookup,
    PlanRunner,
    Proposal,
    ProposalStatus,
    human_time,
    iso_time,
    proposal_from_row,
)
from tools.changes.actions import Action, ActionReport
from tools.changes.retention import ExecutionReport
from tools.policy.plans import Plan
from tools.state import connect

__all__ = [
    "DEFAULT_TTL",
    "ActionLookup",
    "ActionRunner",
    "AuditAppender",
    "Decision",
    "DecisionOutcome",
    "Execution",
    "PlanLookup",
    "PlanRunner",
    "Proposal",
    "ProposalStatus",
    "ProposalStore",
]

DEFAULT_TTL = timedelta(hours=24)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    items_hash TEXT NOT NULL,
    summary TEXT NOT NULL,
    requester TEXT NOT NULL,
    conversation TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    decided_by TEXT,
    decided_at TEXT,
    channel TEXT,
    message_ts TEXT,
    result TEXT
);
CREATE INDEX IF NOT EXISTS proposals_status ON proposals(status);
"""
# Added after the first release: databases made before get them on open (ALTER TABLE ... ADD COLUMN).
_ADDED_COLUMNS = (("kind", "TEXT NOT NULL DEFAULT 'plan'"), ("action_id", "TEXT"))
_COLUMNS = (
    "id, plan_id, items_hash, summary, requester, conversation, created_at, expires_at, status, "
    "decided_by, decided_at, channel, message_ts, result, kind, action_id"
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ProposalStore:
    """Proposals in the SQLite state database; see the module docstring for the exactly-once rules."""

    def __init__(
        self,
        db_path: Path,
        *,
        plans: PlanLookup,
        actions: ActionLookup | None = None,
        audit: AuditAppender | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._conn = connect(db_path)
        self._conn.executescript(_SCHEMA)
        _add_missing_columns(self._conn)
        self._lock = threading.Lock()  # one connection shared by threads: one statement at a time
        self._plans = plans
        self._actions = actions
        self._run_action: ActionRunner | None = None
        self._audit = audit
        self._clock = clock

    def bind_action_runner(self, run_action: ActionRunner) -> None:
        """Set how approved actions run (the runtime binds it once its clients exist)."""
        self._run_action = run_action

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def create(
        self, *, plan: Plan, requester: str, conversation: str, ttl: timedelta = DEFAULT_TTL
    ) -> Proposal:
        """Store the plan (if not yet) and a pending proposal for it; audited."""
        _check_ttl(ttl)
        self._plans.save(plan)
        audit = {"plan_id": plan.plan_id, "items_hash": plan.items_hash}
        return self._insert_pending(
            plan_id=plan.plan_id,
            items_hash=plan.items_hash,
            summary=plan.summary(),
            requester=requester,
            conversation=conversation,
            ttl=ttl,
            audit=audit,
        )

    def create_action(
        self, *, action: Action, requester: str, conversation: str, ttl: timedelta = DEFAULT_TTL
    ) -> Proposal:
        """Store the action (if not yet) and a pending proposal for it; audited."""
        if self._actions is None:
            raise ValueError("this proposal store has no action store")
        _check_ttl(ttl)
        self._actions.save(action)
        audit = {
            "action_id": action.action_id,
            "action_kind": action.kind,
            "items_hash": action.items_hash,
            "items": [item.label for item in action.items[:200]],
            "reason": action.reason,
        }
        return self._insert_pending(
            plan_id="",
            items_hash=action.items_hash,
            summary=action.summary(),
            requester=requester,
            conversation=conversation,
            ttl=ttl,
            audit=audit,
            kind=action.kind,
            action_id=action.action_id,
        )

    def _insert_pending(
        self,
        *,
        plan_id: str,
        items_hash: str,
        summary: str,
        requester: str,
        conversation: str,
        ttl: timedelta,
        audit: dict[str, Any],
        kind: str = "plan",
        action_id: str | None = None,
    ) -> Proposal:
        now = self._clock()
        proposal = Proposal(
            id=f"prop-{secrets.token_hex(6)}",
            plan_id=plan_id,
            items_hash=items_hash,
            summary=summary,
            requester=requester,
            conversation=conversation,
            created_at=now,
            expires_at=now + ttl,
            status="pending",
            kind=kind,
            action_id=action_id,
        )
        with self._lock:
            self._conn.execute(
                "INSERT INTO proposals (id, plan_id, items_hash, summary, requester, conversation, "
                "created_at, expires_at, kind, action_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    proposal.id,
                    plan_id,
                    items_hash,
                    summary,
                    requester,
                    conversation,
                    iso_time(now),
                    iso_time(proposal.expires_at),
                    kind,
                    action_id,
                ),
            )
        self._write_audit(
            proposal,
            actor=requester,
            kind="proposal_created",
            summary=summary,
            data={**audit, "expires_at": iso_time(proposal.expires_at)},
        )
        return proposal

    def action(self, proposal: Proposal) -> Action:
        """The stored action of an action proposal, checked against the proposal's hash."""
        if self._actions is None or not proposal.is_action or not proposal.action_id:
            raise ValueError(f"proposal {proposal.id} is not an action proposal")
        action = self._actions.get(proposal.action_id)
        if action.items_hash != proposal.items_hash or action.kind != proposal.kind:
            raise ValueError(f"proposal {proposal.id}: stored action {action.action_id} has other items")
        return action

    def get(self, proposal_id: str) -> Proposal | None:
        """A proposal by id, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM proposals WHERE id = ?", (proposal_id,)
            ).fetchone()
        return proposal_from_row(row) if row else None

    def pending(self) -> list[Proposal]:
        """Proposals still waiting for a decision (expired ones included until swept), oldest first."""
        return self._where("status = 'pending'")

    def in_status(self, *statuses: ProposalStatus) -> list[Proposal]:
        """Proposals in any of these statuses, oldest first."""
        marks = ", ".join("?" for _ in statuses)
        return self._where(f"status IN ({marks})", tuple(statuses))

    def _where(self, condition: str, args: tuple[str, ...] = ()) -> list[Proposal]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM proposals WHERE {condition} ORDER BY created_at", args
            ).fetchall()
        return [proposal_from_row(row) for row in rows]

    def attach_message(self, *, proposal_id: str, channel: str, ts: str) -> None:
        """Remember where the card was posted, so outcomes can update it."""
        with self._lock:
            self._conn.execute(
                "UPDATE proposals SET channel = ?, message_ts = ? WHERE id = ?", (channel, ts, proposal_id)
            )

    def card(self, proposal: Proposal) -> ProposalCard | ActionCard:
        """What the approval card shows, from the stored plan or action (raises if it no longer matches)."""
        if proposal.is_action:
            return build_action_card(proposal, self.action(proposal))
        plan = self._plans.get(proposal.plan_id)
        if plan.items_hash != proposal.items_hash:
            raise ValueError(f"proposal {proposal.id}: stored plan {plan.plan_id} has other items")
        return build_card(proposal, plan)

    def decide(
        self,
        *,
        proposal_id: str,
        user: str,
        decision: Literal["approve", "reject"],
        authorizer: Authorizer,
    ) -> Decision:
        """Record one click: authorized, not expired, and only if nobody decided first (atomic)."""
        proposal = self.get(proposal_id)
        if proposal is None:
            return Decision("not_found", None, "This proposal does not exist (any more).")
        if proposal.status != "pending":
            return Decision("already_decided", proposal, _already(proposal))
        now = self._clock()
        if now >= proposal.expires_at:
            return self._expire(proposal, user=user, now=now)
        auth = authorizer.authorize(user=user, requester=proposal.requester, decision=decision)
        if not auth.allowed:
            self._write_audit(
                proposal,
                actor=user,
                kind="decision_refused",
                summary=auth.reason,
                data={"decision": decision},
            )
            return Decision("forbidden", proposal, auth.reason)
        status: Literal["approved", "rejected"] = "approved" if decision == "approve" else "rejected"
        with self._lock:
            won = self._conn.execute(
                "UPDATE proposals SET status = ?, decided_by = ?, decided_at = ? "
                "WHERE id = ? AND status = 'pending' AND expires_at > ?",
                (status, user, iso_time(now), proposal_id, iso_time(now)),
            ).rowcount
        current = self.get(proposal_id) or proposal
        if won != 1:
            return Decision("already_decided", current, _already(current))
        self._write_audit(
            current,
            actor=user,
            kind=f"proposal_{status}",
            summary=f"{status} by {user} ({auth.reason})",
            data={
                "plan_id": current.plan_id,
                **({"action_id": current.action_id} if current.is_action else {}),
                "items_hash": current.items_hash,
                "at": iso_time(now),
            },
        )
        return Decision(status, current, f"{status.capitalize()}.")

    def _expire(self, proposal: Proposal, *, user: str, now: datetime) -> Decision:
        with self._lock:
            changed = self._conn.execute(
                "UPDATE proposals SET status = 'expired' WHERE id = ? AND status = 'pending'", (proposal.id,)
            ).rowcount
        current = self.get(proposal.id) or proposal
        if changed:
            self._write_audit(current, actor=user, kind="proposal_expired", summary="expired", data={})
        if current.status != "expired":
            return Decision("already_decided", current, _already(current))
        return Decision("expired", current, f"This proposal expired at {human_time(current.expires_at)}.")

    def expire_due(self) -> list[Proposal]:
        """Mark every pending proposal past its expiry as expired; returns them (to update their cards)."""
        now = self._clock()
        due = [p for p in self.pending() if now >= p.expires_at]
        expired = []
        for proposal in due:
            decision = self._expire(proposal, user="regent", now=now)
            if decision.outcome == "expired" and decision.proposal is not None:
                expired.append(decision.proposal)
        return expired

    def execute(self, *, proposal_id: str, run_plan: PlanRunner) -> Execution:
        """Run an approved proposal's plan; only the caller that moves it to executing runs it."""
        with self._lock:
            claimed = self._conn.execute(
                "UPDATE proposals SET status = 'executing' WHERE id = ? AND status = 'approved'",
                (proposal_id,),
            ).rowcount
        proposal = self.get(proposal_id)
        if proposal is None:
            raise KeyError(proposal_id)
        if claimed != 1:
            return Execution(False, proposal, None, f"Not run: the proposal is {proposal.status}.")
        return self._run(proposal, run_plan)

    def resume(self, *, run_plan: PlanRunner) -> list[Execution]:
        """After a restart: run approved proposals nobody claimed, and re-drive interrupted ones."""
        done = [self.execute(proposal_id=p.id, run_plan=run_plan) for p in self.in_status("approved")]
        for proposal in self.in_status("executing"):
            # The plan store's claim and per-item results make this safe: a live runner elsewhere answers
            # "already_running"; a crashed one is taken over after its heartbeat went stale.
            done.append(self._run(proposal, run_plan))
        return done

    def _run(self, proposal: Proposal, run_plan: PlanRunner) -> Execution:
        if not proposal.is_action:
            return self._drive(
                proposal,
                lambda: run_plan(proposal.plan_id),
                started={},
                busy="Another run of this plan is in progress.",
                details=_plan_details,
            )
        if self._run_action is None:
            raise RuntimeError("no action runner is bound; approved actions cannot run here")
        action = self.action(proposal)  # re-checked against the hash the approver saw
        run_action = self._run_action
        return self._drive(
            proposal,
            lambda: run_action(action),
            started={"action_id": action.action_id},
            busy=None,
            details=lambda report: _action_details(action, report),
        )

    def _drive(
        self,
        proposal: Proposal,
        run: Callable[[], ExecutionReport | ActionReport],
        *,
        started: dict[str, Any],
        busy: str | None,
        details: Callable[[Any], dict[str, Any]],
    ) -> Execution:
        """Run a claimed proposal's plan or action, record its final status, audit start and end."""
        self._write_audit(
            proposal, actor="regent", kind="execution_started", summary=proposal.summary, data=started
        )
        try:
            report = run()
        except Exception as exc:
            # Left executing: the plan/action claim and per-item results say what ran; resume() re-drives it.
            self._write_audit(
                proposal, actor="regent", kind="execution_error", summary=type(exc).__name__, data={}
            )
            raise
        if report.status == "already_running":
            return Execution(False, proposal, report, busy or report.message)
        final: ProposalStatus = "failed" if report.failed else "done"
        body = report.model_dump(mode="json")
        with self._lock:
            self._conn.execute(
                "UPDATE proposals SET status = ?, result = ? WHERE id = ? AND status = 'executing'",
                (final, json.dumps(body), proposal.id),
            )
        current = self.get(proposal.id) or replace(proposal, status=final, result=body)
        self._write_audit(
            current, actor="regent", kind=f"execution_{final}", summary=report.message, data=details(report)
        )
        return Execution(True, current, report, report.message)

    def _write_audit(
        self, proposal: Proposal, *, actor: str, kind: str, summary: str, data: Mapping[str, Any]
    ) -> None:
        if self._audit is not None:
            payload = {"proposal_id": proposal.id, "conversation": proposal.conversation, "summary": summary}
            self._audit.append(actor=actor, kind=kind, payload={**payload, **data})


def _check_ttl(ttl: timedelta) -> None:
    if ttl <= timedelta(0):
        raise ValueError("a proposal's ttl must be positive")


def _plan_details(report: ExecutionReport) -> dict[str, Any]:
    return {
        "plan_id": report.plan_id,
        "deleted": report.deleted,
        "already_gone": report.already_gone,
        "skipped": report.skipped,
        "failed": report.failed,
        "freed_bytes_at_least": report.freed_bytes_at_least,
    }


def _action_details(action: Action, report: ActionReport) -> dict[str, Any]:
    return {
        "action_id": action.action_id,
        "action_kind": action.kind,
        # Item by item, so a person can review and undo what was done.
        "results": [
            {"op": r.op, "ref": r.ref, "status": r.status, "reason": r.reason} for r in report.results[:200]
        ],
    }


def _already(proposal: Proposal) -> str:
    if proposal.status == "expired":
        return f"This proposal expired at {human_time(proposal.expires_at)}."
    who = f" by <@{proposal.decided_by}>" if proposal.decided_by else ""
    when = f" at {human_time(proposal.decided_at)}" if proposal.decided_at else ""
    return f"Already handled: {proposal.status}{who}{when}."


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a proposals table made by an older Regent up to date (idempotent, safe with two processes)."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(proposals)")}
    for name, declaration in _ADDED_COLUMNS:
        if name in present:
            continue
        try:
            conn.execute(f"ALTER TABLE proposals ADD COLUMN {name} {declaration}")
        except sqlite3.OperationalError as exc:  # another process added it between our check and ALTER
            if "duplicate column" not in str(exc):
                raise
