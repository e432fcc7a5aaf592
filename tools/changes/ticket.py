"""Opening a ticket as an approved action: the draft and its exact payload are stored and shown first.

`build_ticket_action` (read-only) drafts the ticket for one CVE (tools/vulns/tickets.py), renders the
payload for the configured tracker, and stores both in an Action with where it goes (scheme, host, path;
never the token, never a query string). `execute_ticket` runs once after an approval: it checks the
configured webhook is still the one displayed and POSTs the stored draft through `send_ticket`. A run that
was interrupted mid-POST is not repeated (a tracker has no way to say whether the ticket exists).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tools.changes.action_kind import ActionChangeKind
from tools.changes.actions import (
    Action,
    ActionItem,
    ActionReport,
    ActionStore,
    ItemOutcome,
    ItemStep,
    new_action,
)
from tools.changes.actions import run_action as run_stored_action
from tools.changes.base import ChangeServices, Fact, Tables
from tools.vulns.tickets import TicketDraft, TicketTarget, draft_ticket, send_ticket, ticket_payload
from tools.vulns.views import CveGroup

KIND = "ticket"


def describe_target(target: TicketTarget) -> dict[str, Any]:
    """Where tickets go, safe to show and store: no userinfo, no query; a hash pins the full URL."""
    parts = urlsplit(target.url)
    return {
        "preset": target.preset,
        "destination": f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
        f"{parts.path}",
        "url_sha256": hashlib.sha256(target.url.encode()).hexdigest(),
        "project": target.project,
        "issue_type": target.issue_type,
        "assignment_group": target.assignment_group,
    }


def build_ticket_action(group: CveGroup, target: TicketTarget, *, reason: str, now: datetime) -> Action:
    """The ticket for one CVE as an action: its draft, the payload the tracker will get, its destination."""
    draft = draft_ticket(group)
    shown = describe_target(target)
    item = ActionItem(
        op="create_ticket",
        ref=group.cve,
        label=f"{draft.title} → {shown['preset']} webhook {shown['destination']}",
        detail={"draft": draft.model_dump(mode="json"), "payload": ticket_payload(draft, target)},
    )
    return new_action(
        kind=KIND,
        title=f"Open a ticket for {group.cve}",
        reason=reason,
        target=shown,
        items=[item],
        now=now,
    )


def execute_ticket(
    action_id: str,
    *,
    store: ActionStore,
    target: TicketTarget | None,
    token: str | None,
    now: Callable[[], datetime],
) -> ActionReport:
    """POST the approved ticket once, if the configured webhook is still the one the card showed."""

    def steps(action: Action) -> ItemStep:
        def step(_index: int, item: ActionItem) -> tuple[ItemOutcome, str]:
            if target is None:
                return "skipped", "ticketing is no longer configured (vulns.ticket)"
            if describe_target(target) != action.target:
                return "skipped", "the ticket webhook changed since the proposal; propose the ticket again"
            draft = TicketDraft.model_validate(item.detail["draft"])
            if ticket_payload(draft, target) != item.detail["payload"]:
                return "skipped", "the payload would differ from the one shown; propose the ticket again"
            result = send_ticket(draft, target, token=token)
            return "done", f"created (HTTP {result.status}): {result.body[:120]}"

        return step

    return run_stored_action(action_id, store=store, step=steps, now=now, recheckable=False)


class TicketKind(ActionChangeKind):
    """Opening a ticket in the configured tracker (vulns.ticket) for one CVE."""

    name = KIND
    verb = "Create ticket"
    nothing_done = "No ticket was created."
    nothing_will = "No ticket will be created."

    def facts(self, action: Action) -> tuple[Fact, ...]:
        """Where the ticket goes (never the token), and its project or assignment group."""
        target = action.target
        facts = [Fact("Tracker", f"{target.get('preset')} webhook {target.get('destination')}")]
        for key, name in (("project", "Project"), ("assignment_group", "Assignment group")):
            if target.get(key):
                facts.append(Fact(name, str(target[key])))
        return tuple(facts)

    def run(self, change: Action, *, store: Tables, services: ChangeServices) -> ActionReport:
        """POST the stored draft once, if the configured webhook is still the one displayed."""
        return execute_ticket(
            change.action_id,
            store=store.actions,
            target=services.ticket_target(),
            token=services.ticket_token,
            now=services.now,
        )


TICKET = TicketKind()
