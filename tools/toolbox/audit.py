"""audit_log: recent entries of the hash-chained audit log (tool calls, proposals, decisions, executions)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.text import clean_text
from tools.toolbox.context import Call, ToolFailure
from tools.toolbox.results import ToolResult


class AuditLogArgs(BaseModel):
    """Recent audit log entries, newest first: tool calls, proposals, approvals, denials, executions."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=50, description="Maximum entries to return")
    actor: str | None = Field(None, description="Only entries by this Slack user id or name")
    action: str | None = Field(None, description="Only this action, e.g. tool_call, proposal, approval")
    since_hours: float | None = Field(None, gt=0, description="Only entries from the last N hours")


class AuditRow(BaseModel):
    """One audit entry."""

    at: str
    actor: str
    action: str
    conversation: str
    summary: str


class AuditLogResult(ToolResult):
    """Audit entries, newest first."""

    entries: list[AuditRow]


def audit_log(call: Call, args: AuditLogArgs) -> AuditLogResult:
    """Read the audit log through the injected reader."""
    reader = call.context.audit
    if reader is None:
        raise ToolFailure("the audit log is not available here", hint="tell the user it is not configured")
    since = call.context.now() - timedelta(hours=args.since_hours) if args.since_hours else None
    records = reader(limit=args.limit + 1, actor=args.actor, action=args.action, since=since)
    rows = [
        AuditRow(
            at=r.at.isoformat(timespec="seconds"),
            actor=clean_text(r.actor, limit=80),
            action=clean_text(r.action, limit=40),
            conversation=clean_text(r.conversation, limit=80),
            summary=clean_text(r.summary, limit=240),
        )
        for r in records[: args.limit]
    ]
    more = len(records) > args.limit
    note = f"more than {args.limit} entries match; filter by actor, action or since_hours" if more else None
    return AuditLogResult(entries=rows, truncated=more, note=note)
