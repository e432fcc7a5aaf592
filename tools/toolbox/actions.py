"""Proposing tools for changes outside the registries: suspending a Portainer user, opening a ticket.

Like the cleanup tools they never act: they read what the change would touch, store it as an Action
(tools/changes/actions.py) with a pending proposal, and return its id and summary; the approval card shows the
stored items, and only an authorized Approve runs them (bot/approvals).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.text import clean_text
from tools.changes.actions import Action
from tools.changes.suspension import build_suspension
from tools.changes.ticket import build_ticket_action
from tools.toolbox.context import Call, ToolFailure, require_writable
from tools.toolbox.results import ToolResult
from tools.toolbox.vulns import analysis_of
from tools.vulns.views import group_by_cve

MAX_LISTED = 30
NOTE = (
    "Nothing has changed yet: an approval card with exactly these items is shown; only an authorized "
    "approver's Approve runs them, each re-checked first."
)


class ProposeUserSuspensionArgs(BaseModel):
    """Propose suspending a Portainer user: revoke all their API keys, remove their team memberships and
    demote them if they are an administrator. Only when the user asked to suspend, disable or lock out
    that person. Changes nothing: it stores the exact list and asks an approver."""

    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=128, description="Portainer username, or numeric user id")
    reason: str = Field(min_length=3, max_length=500, description="Why, in the requester's words")


class ProposeTicketArgs(BaseModel):
    """Propose opening a ticket in the configured tracker for one CVE (from the vulnerability triage),
    optionally limited to images matching a glob. Only when the user asked to open, create or file a
    ticket. Sends nothing: the ticket is POSTed only after an approver clicks Approve."""

    model_config = ConfigDict(extra="forbid")

    cve: str | None = Field(None, max_length=64, description="CVE id, e.g. CVE-2026-1234; or give image")
    image: str | None = Field(None, max_length=256, description="Image glob; without cve: its top CVE")
    reason: str = Field("", max_length=500, description="Why, in the requester's words")


class ActionProposalResult(ToolResult):
    """What a proposing tool stored: the proposal and the exact changes it would make."""

    proposal_id: str
    summary: str
    expires_at: str
    changes: list[str]
    warnings: list[str]
    message: str


def _propose(call: Call, action: Action) -> ActionProposalResult:
    require_writable(call.context)
    propose = call.context.propose_action
    if propose is None:
        raise ToolFailure("proposals are not available here", hint="explain what would change instead")
    ref = propose(action, call.user, call.conversation)
    labels = [clean_text(item.label, limit=200) for item in action.items]
    return ActionProposalResult(
        proposal_id=ref.id,
        summary=ref.summary,
        expires_at=ref.expires_at.isoformat(timespec="minutes"),
        changes=labels[:MAX_LISTED],
        warnings=action.warnings,
        message=NOTE,
        truncated=len(labels) > MAX_LISTED,
        note=f"{len(labels) - MAX_LISTED} more changes are on the card" if len(labels) > MAX_LISTED else None,
    )


def propose_user_suspension(call: Call, args: ProposeUserSuspensionArgs) -> ActionProposalResult:
    """Read the user's keys, memberships and role from Portainer and propose revoking/removing them."""
    connect = call.context.portainer
    if connect is None:
        raise ToolFailure("Portainer is not configured here", hint="tell the user suspension needs Portainer")
    with connect() as client:
        action = build_suspension(client, user=args.user, reason=args.reason, now=call.context.now())
    return _propose(call, action)


def propose_ticket(call: Call, args: ProposeTicketArgs) -> ActionProposalResult:
    """Draft the ticket for one CVE from the triage and propose sending it to the configured tracker."""
    target = call.context.ticket_target
    if target is None:
        raise ToolFailure("no ticket tracker is configured", hint="tell the user to set vulns.ticket")
    if not args.cve and not args.image:
        raise ToolFailure("name a CVE or an image", hint="call vulnerability_report first to pick one")
    analysis = analysis_of(call)
    cve = args.cve.strip().upper() if args.cve else None
    findings = [
        f
        for f in analysis.triage.findings
        if (cve is None or f.cve.upper() == cve) and (not args.image or _image_matches(f.image, args.image))
    ]
    groups = group_by_cve(findings)
    if not groups:
        raise ToolFailure(
            "no finding matches that CVE/image in the current triage",
            hint="call vulnerability_report or get_cve to find the right one",
        )
    action = build_ticket_action(groups[0], target, reason=args.reason, now=call.context.now())
    return _propose(call, action)


def _image_matches(image: str, wanted: str) -> bool:
    return fnmatchcase(image, wanted) or fnmatchcase(image, wanted + "*")
