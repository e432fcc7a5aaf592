"""The toolbox's context from settings and stores: what the tools the LLM (and MCP, and /regent) call read.

Only bot/app.py calls `build_context`; it binds the snapshot, history and policies readers afterwards,
since those live on the App.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from bot.agent.loop import ToolCallEvent
from bot.approvals.audit import AuditLog
from bot.config import Secrets, Settings, configured_prices, read_only_reason
from tools.changes.actions import Action
from tools.compliance.build import AuditView
from tools.compliance.collect import CHANGE_KINDS
from tools.compliance.evidence import ChangeRecord
from tools.events.access import EventsAccess
from tools.events.client import DockerHubClient, RateLimit
from tools.events.stats import Exclusions
from tools.events.store import EventStore
from tools.policy.plans import Plan
from tools.portainer.client import PortainerClient
from tools.toolbox.context import AuditRecord, ProposalRef, ToolContext
from tools.vulns.service import VulnsAccess
from tools.vulns.tickets import TicketTarget


def build_context(
    settings: Settings,
    secrets: Secrets,
    *,
    db: Path,
    audit: AuditLog,
    events: EventStore,
    clock: Callable[[], datetime],
    propose: Callable[[Plan, str, str], ProposalRef] | None,
    propose_action: Callable[[Action, str, str], ProposalRef] | None,
) -> ToolContext:
    """Everything the tools read, except the App-bound readers (snapshot, history, policies)."""
    return ToolContext(
        snapshot=lambda: None,
        propose=propose,
        propose_action=propose_action,
        read_only=read_only_reason(settings),
        portainer=_portainer_factory(settings, secrets),
        ticket_target=_ticket_target(settings),
        audit=_audit_reader(audit),
        now=clock,
        production=settings.environments,
        base_catalog=settings.bases,
        registry_services={service.registry: service for service in settings.registry_services},
        audit_view=audit_view(audit),
        cost_per_gb_month=configured_prices(settings),
        events=events_access(settings, events, clock=clock),
        vulns=VulnsAccess(
            db_path=db,
            production_patterns=settings.environments.get("production", []),
            approved_bases=settings.vulns.approved_bases,
        ),
    )


def events_access(settings: Settings, store: EventStore, *, clock: Callable[[], datetime]) -> EventsAccess:
    """What the events tools read: the store, exclusions, anomaly rules, mirrors, a Docker Hub check."""

    def rate_limit() -> RateLimit:
        # A short-lived client: the check is rare, and an idle pool to Docker Hub is not worth keeping.
        with httpx.Client(timeout=10.0) as http:
            return DockerHubClient(http=http).rate_limit(now=clock())

    config = settings.events
    return EventsAccess(
        store=store,
        exclusions=Exclusions(
            actors=tuple(config.ignore_actors), user_agents=tuple(config.ignore_user_agents)
        ),
        anomaly_rules=config.anomalies,
        mirrors=dict(config.mirrors),
        rate_limit=rate_limit,
    )


def _portainer_factory(settings: Settings, secrets: Secrets) -> Callable[[], PortainerClient] | None:
    config = settings.portainer
    key = secrets.portainer_api_key
    if config is None or key is None:
        return None

    def connect() -> PortainerClient:
        return PortainerClient(config.url, api_key=key.get_secret_value(), verify=config.verify_tls)

    return connect


def _ticket_target(settings: Settings) -> TicketTarget | None:
    ticket = settings.vulns.ticket
    if ticket is None:
        return None
    return TicketTarget(
        url=ticket.url,
        preset=ticket.preset,
        project=ticket.project,
        issue_type=ticket.issue_type,
        assignment_group=ticket.assignment_group,
    )


def tool_audit(audit: AuditLog) -> Callable[[ToolCallEvent], None]:
    def record(event: ToolCallEvent) -> None:
        audit.append(
            actor=event.user,
            kind="tool_call",
            payload={
                "tool": event.tool,
                "arguments": event.arguments,
                "conversation": event.conversation,
                "reference": event.reference,
                "step": event.step,
                "offered": event.offered,
            },
        )

    return record


def _audit_reader(audit: AuditLog) -> Callable[..., list[AuditRecord]]:
    def read(
        *, limit: int, actor: str | None, action: str | None, since: datetime | None
    ) -> list[AuditRecord]:
        kind = action.replace(".", "_") if action else None
        records = []
        for entry in reversed(audit.entries(kind=kind)):
            at = datetime.fromisoformat(entry.at)
            if since is not None and at < since:
                break
            if actor is not None and entry.actor != actor:
                continue
            payload = entry.payload
            summary = str(payload.get("summary") or payload.get("tool") or "")
            if entry.kind == "tool_call":
                summary = f"{payload.get('tool')} {payload.get('arguments')}"
            records.append(
                AuditRecord(at, entry.actor, entry.kind, str(payload.get("conversation", "")), summary)
            )
            if len(records) >= limit:
                break
        return records

    return read


def audit_view(audit: AuditLog) -> Callable[[], AuditView]:
    """The audit log's change records and the verification of its hash chain (compliance evidence)."""

    def read() -> AuditView:
        check = audit.verify()
        records = [
            ChangeRecord(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                kind=e.kind,
                summary=str(e.payload.get("summary") or e.payload.get("proposal_id") or "")[:300],
            )
            for e in audit.entries()
            if e.kind in CHANGE_KINDS
        ]
        problem = f"entry {check.first_bad_seq}: {check.reason}" if not check.ok else ""
        return AuditView(records=records, chain_ok=check.ok, checked=check.checked, problem=problem)

    return read
