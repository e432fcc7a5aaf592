"""Proposals: a stored change waiting for an authorized Approve, decided exactly once, run exactly once.

One store for every kind of change (tools/changes/kinds.py: a retention plan, a Portainer user
suspension, a ticket, ...), and one audit vocabulary for all of them, whoever decides (a Slack click,
`regent chat`, `regent apply`): `proposal_created`, `proposal_approved|rejected|expired`,
`decision_refused`, `execution_started`, `execution_done|failed|error`.

Exactly-once rests on two conditional UPDATEs in the state database, so it holds across threads, Slack
retries, two approvers clicking together, several replicas and restarts:
- deciding: `status pending -> approved|rejected WHERE status='pending' AND expires_at > now`; the one
  statement that changes a row wins, every other click is told who decided first;
- executing: `status approved -> executing WHERE status='approved'`; only that claimant calls the
  runner, and the change's own claim (tools/changes: plans and actions run once) means even a second
  process that somehow got here would change nothing.
The card shows the stored change (`card()` loads it by kind and id and checks its items hash against the
proposal's), and the button carries only the proposal id: what was displayed is what runs (design
invariants 1 and 3).
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
from bot.approvals.card import Card, build_card
from bot.approvals.models import (
    AuditAppender,
    ChangeRunner,
    Decision,
    DecisionOutcome,
    Execution,
    PlanLookup,
    Proposal,
    ProposalStatus,
    human_time,
    iso_time,
    proposal_from_row,
)
from tools.changes.base import Change, ChangeReport
from tools.changes.store import ChangeStore
from tools.state import connect

__all__ = [
    "DEFAULT_TTL",
    "AuditAppender",
    "ChangeRunner",
    "Decision",
    "DecisionOutcome",
    "Execution",
    "PlanLookup",
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
        changes: ChangeStore,
        audit: AuditAppender | None = None,
        clock: Callable[[], datetime] = _utcnow,
        run: ChangeRunner | None = None,
    ) -> None:
        self._conn = connect(db_path)
        self._conn.executescript(_SCHEMA)
        _add_missing_columns(self._conn)
        self._lock = threading.Lock()  # one connection shared by threads: one statement at a time
        self._changes = changes
        self._run_change = run
        self._audit = audit
        self._clock = clock

    @property
    def changes(self) -> ChangeStore:
        """The stored changes the proposals are about."""
        return self._changes

    def bind_runner(self, run: ChangeRunner) -> None:
        """Set how approved changes run (the composition root binds it once its clients exist)."""
        self._run_change = run

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def create(
        self, *, change: Change, requester: str, conversation: str, ttl: timedelta = DEFAULT_TTL
    ) -> Proposal:
        """Store the change (if not yet) and a pending proposal for it; audited."""
        if ttl <= timedelta(0):
            raise ValueError("a proposal's ttl must be positive")
        self._changes.save(change)
        now = self._clock()
        # Rows made before the change pipeline name a plan in plan_id and an action in action_id: keep that.
        in_plans = self._changes.table(change.kind) == "plans"
        proposal = Proposal(
            id=f"prop-{secrets.token_hex(6)}",
            plan_id=change.change_id if in_plans else "",
            items_hash=change.items_hash,
            summary=change.summary(),
            requester=requester,
            conversation=conversation,
            created_at=now,
            expires_at=now + ttl,
            status="pending",
            kind=change.kind,
            action_id=None if in_plans else change.change_id,
        )
        with self._lock:
            self._conn.execute(
                "INSERT INTO proposals (id, plan_id, items_hash, summary, requester, conversation, "
                "created_at, expires_at, kind, action_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    proposal.id,
                    proposal.plan_id,
                    proposal.items_hash,
                    proposal.summary,
                    requester,
                    conversation,
                    iso_time(now),
                    iso_time(proposal.expires_at),
                    proposal.kind,
                    proposal.action_id,
                ),
            )
        data = {**self._changes.created_audit(change), "expires_at": iso_time(proposal.expires_at)}
        self._write_audit(
            proposal, actor=requester, kind="proposal_created", summary=proposal.summary, data=data
        )
        return proposal

    def change(self, proposal: Proposal) -> Change:
        """The proposal's stored change, checked against its own hash and the one the proposal showed."""
        found: Change = self._changes.get(proposal.kind, proposal.change_id, items_hash=proposal.items_hash)
        return found

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

    def for_change(self, kind: str, change_id: str) -> list[Proposal]:
        """Every proposal of one stored change, oldest first."""
        column = "plan_id" if self._changes.table(kind) == "plans" else "action_id"
        return self._where(f"kind = ? AND {column} = ?", (kind, change_id))

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

    def card(self, proposal: Proposal) -> Card:
        """What the approval card shows, from the stored change (raises if it no longer matches)."""
        change = self.change(proposal)
        return build_card(proposal, change, self._changes.kind(proposal.kind))

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
            data = {"decision": decision}
            self._write_audit(proposal, actor=user, kind="decision_refused", summary=auth.reason, data=data)
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
            data={"items_hash": current.items_hash, "at": iso_time(now)},
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

    def execute(self, *, proposal_id: str, run: ChangeRunner | None = None) -> Execution:
        """Run an approved proposal's change; only the caller that moves it to executing runs it.

        `run` stands in for the bound runner (App.run_change), e.g. a test's runner that crashes midway.
        """
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
        return self._drive(proposal, run)

    def resume(self, *, proposal_id: str | None = None, run: ChangeRunner | None = None) -> list[Execution]:
        """After a restart: run approved proposals nobody claimed, and re-drive interrupted ones.

        With `proposal_id`, only that proposal (`regent apply` picking up its own interrupted run).
        """
        wanted = [p for p in self.in_status("approved", "executing") if proposal_id in (None, p.id)]
        done = []
        for proposal in wanted:
            if proposal.status == "approved":
                done.append(self.execute(proposal_id=proposal.id, run=run))
            else:
                # The change's claim and per-item results make this safe: a live runner elsewhere answers
                # "already_running"; a crashed one is taken over (at once if its process is known gone).
                done.append(self._drive(proposal, run))
        return done

    def _drive(self, proposal: Proposal, run: ChangeRunner | None) -> Execution:
        """Run a claimed proposal's change, record its final status, audit start and end."""
        run = run or self._run_change
        if run is None:
            raise RuntimeError("no change runner is bound; approved changes cannot run here")
        self._write_audit(
            proposal, actor="regent", kind="execution_started", summary=proposal.summary, data={}
        )
        try:
            change = self.change(proposal)  # re-checked against the hash the approver saw
            report = run(change)
        except Exception as exc:
            # Left executing: the change's claim and per-item results say what ran; resume() re-drives it.
            self._write_audit(
                proposal, actor="regent", kind="execution_error", summary=type(exc).__name__, data={}
            )
            raise
        if report.status == "already_running":
            return Execution(False, proposal, report, report.message)
        return self._finish(proposal, change, report)

    def _finish(self, proposal: Proposal, change: Change, report: ChangeReport) -> Execution:
        final: ProposalStatus = "failed" if report.failed else "done"
        body = report.model_dump(mode="json")
        with self._lock:
            self._conn.execute(
                "UPDATE proposals SET status = ?, result = ? WHERE id = ? AND status = 'executing'",
                (final, json.dumps(body), proposal.id),
            )
        current = self.get(proposal.id) or replace(proposal, status=final, result=body)
        details = self._changes.done_audit(change, report)
        self._write_audit(
            current, actor="regent", kind=f"execution_{final}", summary=report.message, data=details
        )
        return Execution(True, current, report, report.message)

    def _write_audit(
        self, proposal: Proposal, *, actor: str, kind: str, summary: str, data: Mapping[str, Any]
    ) -> None:
        if self._audit is not None:
            payload = {
                "proposal_id": proposal.id,
                "conversation": proposal.conversation,
                "summary": summary,
                "change_kind": proposal.kind,
                "change_id": proposal.change_id,
            }
            self._audit.append(actor=actor, kind=kind, payload={**payload, **data})


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
