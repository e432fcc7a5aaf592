"""Tickets for vulnerabilities: one draft per CVE, rendered as generic JSON, a Jira issue or a ServiceNow
incident, and POSTed to the configured webhook (only after an approval; the caller enforces that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from tools.vulns.client import post_json
from tools.vulns.views import CveGroup

if TYPE_CHECKING:  # only tools/vulns/client.py speaks HTTP; an injected client is passed through
    import httpx

Preset = Literal["generic", "jira", "servicenow"]
# ServiceNow urgency/impact: 1 high, 2 medium, 3 low
_SERVICENOW = {"P1": ("1", "1"), "P2": ("1", "2"), "P3": ("2", "2"), "P4": ("3", "2"), "P5": ("3", "3")}


class TicketTarget(BaseModel):
    """Where tickets go and in which shape (mirrors the `vulns.ticket` config section)."""

    url: str
    preset: Preset = "generic"
    project: str = ""
    issue_type: str = "Bug"
    assignment_group: str = ""


class TicketDraft(BaseModel):
    """What a ticket says, before it is shaped for one tracker."""

    cve: str
    priority: str
    title: str
    description: str
    images: list[str]
    environments: list[str]
    fixed_versions: list[str]
    reason: str


class TicketResult(BaseModel):
    """The webhook's answer."""

    status: int
    body: str


def draft_ticket(group: CveGroup) -> TicketDraft:
    """A ticket for one CVE across its images."""
    package = group.packages[0] if group.packages else "a package"
    count = len(group.images)
    fix = f"Upgrade to {', '.join(group.fixed_versions)}." if group.fixable else "No fixed version yet."
    description = "\n".join(
        [
            f"{group.cve} in {', '.join(group.packages)}.",
            f"Priority {group.priority}: {group.reason}",
            f"Images ({count}): {', '.join(group.images)}",
            f"Runs in: {', '.join(group.environments) or 'no environment'}",
            fix,
            "Opened by Regent after an approval in Slack.",
        ]
    )
    return TicketDraft(
        cve=group.cve,
        priority=group.priority,
        title=f"[{group.priority}] {group.cve} in {package} ({count} image{'s' if count != 1 else ''})",
        description=description,
        images=group.images,
        environments=group.environments,
        fixed_versions=group.fixed_versions,
        reason=group.reason,
    )


def ticket_payload(draft: TicketDraft, target: TicketTarget) -> dict[str, Any]:
    """The JSON body for the target's tracker."""
    if target.preset == "jira":
        return {
            "fields": {
                "project": {"key": target.project},
                "issuetype": {"name": target.issue_type},
                "summary": draft.title[:255],
                "description": draft.description,
                "labels": ["regent", "vulnerability", draft.cve],
            }
        }
    if target.preset == "servicenow":
        urgency, impact = _SERVICENOW.get(draft.priority, ("3", "3"))
        body: dict[str, Any] = {
            "short_description": draft.title[:160],
            "description": draft.description,
            "urgency": urgency,
            "impact": impact,
            "category": "security",
        }
        if target.assignment_group:
            body["assignment_group"] = target.assignment_group
        return body
    return {"source": "regent", **draft.model_dump()}


def send_ticket(
    draft: TicketDraft, target: TicketTarget, *, token: str | None, http: httpx.Client | None = None
) -> TicketResult:
    """POST the ticket; UpstreamError (naming the status) when the webhook refuses it."""
    headers = {"Accept": "application/json"}
    if token:
        # A value with its own scheme ("Basic …" for Jira Cloud) is sent as is; a bare token is a bearer.
        headers["Authorization"] = token if " " in token else f"Bearer {token}"
    status, body = post_json(target.url, ticket_payload(draft, target), headers=headers, http=http)
    return TicketResult(status=status, body=body)
