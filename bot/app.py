"""The runtime: one composition of stores, toolbox and agent for `regent chat`, `regent serve` and tests.

Built from Settings, Secrets, the LLM environment and a state directory, explicitly: the snapshot store,
the latest snapshot (cached until a newer one is saved) and a refresh that runs the inventory, history
for the clocks, the policies file, the plan store, the audit log, the proposal store, the toolbox
context and the Agent (None when no LLM is configured). `run_plan` is the one way an approved proposal
is executed: fresh deployments and registry clients, then tools.changes.retention.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.agent.llm import ChatModel, OpenAIChat
from bot.agent.loop import Agent, AgentLimits, ToolCallEvent
from bot.agent.memory import ConversationMemory
from bot.agent.prompts import Prompts
from bot.approvals import Authorizer, ProposalStore
from bot.approvals.audit import AuditLog
from bot.config.settings import (
    LLMEnv,
    Secrets,
    Settings,
    configured_prices,
    load_events_secret,
    load_llm_env,
    load_secrets,
    load_slack_env,
    load_vulns_env,
    read_only_reason,
    state_dir,
)
from bot.sources import build_sources
from tools.analysis.history import RegistryHistory, build_history
from tools.changes.actions import Action, ActionReport, ActionStore
from tools.changes.retention import ExecutionReport, execute_plan
from tools.changes.suspension import execute_suspension
from tools.changes.ticket import execute_ticket
from tools.errors import RegentError
from tools.events.access import EventsAccess
from tools.events.client import DockerHubClient, RateLimit
from tools.events.stats import Exclusions, clock_data
from tools.events.store import EventStore
from tools.inventory.inventory import resolve_deployments, run_inventory
from tools.inventory.models import Deployment, InventorySnapshot
from tools.inventory.store import SnapshotStore
from tools.policy.loader import load_policies
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan
from tools.policy.store import PlanStore
from tools.portainer.client import PortainerClient
from tools.toolbox.context import AuditRecord, ProposalRef, ToolContext
from tools.toolbox.dispatch import Toolbox
from tools.vulns.service import VulnsAccess
from tools.vulns.tickets import TicketTarget

log = logging.getLogger(__name__)

DB_NAME = "regent.db"
HISTORY_SNAPSHOTS = 8  # earlier crawls consulted for dangling digests; each is decoded in full


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Runtime:
    """Everything a front end (CLI chat, Slack, tests) needs, built once per process."""

    settings: Settings
    secrets: Secrets
    state_dir: Path
    snapshots: SnapshotStore
    plans: PlanStore
    audit: AuditLog
    events: EventStore
    proposals: ProposalStore
    toolbox: Toolbox
    agent: Agent | None
    registry_urls: list[str] = field(default_factory=list)
    docker_hosts: list[str] = field(default_factory=list)
    clock: Callable[[], datetime] = _utcnow
    actions: ActionStore | None = None
    ticket_token: str | None = field(default=None, repr=False)
    _latest: tuple[int, InventorySnapshot] | None = None
    _policies: tuple[float, PolicyFile] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def latest_snapshot(self) -> InventorySnapshot | None:
        """The newest saved snapshot, decoded once per snapshot id."""
        stats = self.snapshots.stats()
        newest = stats[-1].snapshot_id if stats else None
        with self._lock:
            if self._latest is not None and self._latest[0] == newest:
                return self._latest[1]
        snapshot = self.snapshots.latest()
        if snapshot is not None and newest is not None:
            with self._lock:
                self._latest = (newest, snapshot)
        return snapshot

    def refresh_snapshot(
        self, *, progress: Callable[[str, int, int], None] | None = None
    ) -> InventorySnapshot:
        """Crawl every configured registry and environment now, save and return the snapshot."""
        sources = self._sources()
        try:
            if not sources.registries and not sources.deployments:
                raise RegentError("nothing to inventory: configure registries, Portainer or Docker hosts")
            snapshot = run_inventory(
                sources.registries,
                sources.deployments,
                workers=self.settings.crawl_workers,
                now=self.clock(),
                progress=progress,
            )
            snapshot.errors[:0] = sources.errors
            self.snapshots.save(snapshot)
        finally:
            sources.close()
        return snapshot

    def history(self, snapshot: InventorySnapshot) -> dict[str, RegistryHistory]:
        """Per registry name: first sightings, push/pull clocks from events, dangling digests."""
        earlier = [
            s for s in self.snapshots.snapshots(limit=HISTORY_SNAPSHOTS) if s.taken_at < snapshot.taken_at
        ]
        exclusions = Exclusions(
            actors=tuple(self.settings.events.ignore_actors),
            user_agents=tuple(self.settings.events.ignore_user_agents),
        )
        out: dict[str, RegistryHistory] = {}
        for inventory in snapshot.registries:
            first_seen = self.snapshots.first_seen(inventory.source.url)
            clocks = clock_data(
                self.events,
                registry=inventory.source.image_host,
                exclusions=exclusions,
                first_seen=first_seen,
            )
            out[inventory.source.name] = build_history(
                inventory,
                earlier,
                now=self.clock(),
                first_seen=clocks.first_seen,
                pushed=clocks.pushed,
                last_pulled=clocks.last_pulled,
            )
        return out

    def policies(self) -> PolicyFile | None:
        """The policies file (re-read when it changes), or None when none is configured."""
        if not self.settings.policies_file:
            return None
        path = Path(self.settings.policies_file)
        mtime = path.stat().st_mtime if path.exists() else -1.0
        with self._lock:
            if self._policies is not None and self._policies[0] == mtime:
                return self._policies[1]
        loaded = load_policies(path)
        with self._lock:
            self._policies = (mtime, loaded)
        return loaded

    def current_deployments(self) -> list[Deployment]:
        """Deployments right now, from every environment; raises if any environment cannot be read."""
        sources = self._sources()
        try:
            found: list[Deployment] = []
            for source in sources.deployments:
                batch = source()
                if batch.errors:
                    raise RegentError("cannot tell what is in use: " + "; ".join(batch.errors[:3]))
                found.extend(batch.deployments)
        finally:
            sources.close()
        latest = self.latest_snapshot()
        return resolve_deployments(found, latest.registries if latest else [])

    def run_plan(self, plan_id: str) -> ExecutionReport:
        """Execute a stored plan once (the path every approval takes): re-validated, audited by the caller."""
        self._require_cleanup_mode()
        sources = self._sources()
        try:
            clients = {target.source.name: target.client for target in sources.registries}
            return execute_plan(
                plan_id,
                store=self.plans,
                clients=clients,
                current_deployments=self.current_deployments,
                now=self.clock,
                resume_stale_after=timedelta(minutes=10),
            )
        finally:
            sources.close()

    def run_action(self, action: Action) -> ActionReport:
        """Execute an approved action once (suspension through Portainer, ticket through its webhook)."""
        self._require_cleanup_mode()
        assert self.actions is not None
        if action.kind == "portainer_user_suspension":
            with self.portainer_client() as client:
                return execute_suspension(action.action_id, store=self.actions, client=client, now=self.clock)
        return execute_ticket(
            action.action_id,
            store=self.actions,
            target=self.toolbox.context.ticket_target,
            token=self.ticket_token,
            now=self.clock,
        )

    def _require_cleanup_mode(self) -> None:
        reason = read_only_reason(self.settings)
        if reason is not None:  # read-only never changes anything, whatever was approved before
            raise RegentError(reason)

    def portainer_client(self) -> PortainerClient:
        """A new Portainer client from the settings (the caller closes it); RegentError if not configured."""
        factory = self.toolbox.context.portainer
        if factory is None:
            raise RegentError("Portainer is not configured (portainer.url and PORTAINER_API_KEY)")
        return factory()

    def cli_authorizer(self, user: str) -> Authorizer:
        """The terminal's approver: the local OS user, who already holds the state and the credentials."""
        return Authorizer(users=[user], requester_may_approve=True)

    def close(self) -> None:
        """Close every store and the agent's workers."""
        if self.agent is not None:
            self.agent.close()
        for closable in (self.proposals, self.events, self.audit, self.plans, self.snapshots):
            closable.close()
        if self.actions is not None:
            self.actions.close()

    def _sources(self) -> Any:
        return build_sources(
            self.settings,
            self.secrets,
            registry_urls=self.registry_urls,
            docker_hosts=self.docker_hosts,
            store=self.snapshots,
            cache_dir=self.state_dir / "cache",
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


def secret_values(secrets: Secrets, llm_env: LLMEnv, extra: Sequence[str] = ()) -> list[str]:
    """Every secret string the process knows, for redaction before anything reaches the LLM."""
    values = [s.get_secret_value() for s in (secrets.portainer_api_key, secrets.registry_password) if s]
    values += [password.get_secret_value() for _user, password in secrets.registry_credentials.values()]
    if llm_env.api_key is not None:
        values.append(llm_env.api_key.get_secret_value())
    return [v for v in [*values, *extra] if v]


def build_runtime(
    *,
    settings: Settings,
    secrets: Secrets,
    state_dir: Path,
    llm_env: LLMEnv | None = None,
    registry_urls: Sequence[str] = (),
    docker_hosts: Sequence[str] = (),
    extra_secrets: Sequence[str] = (),
    clock: Callable[[], datetime] = _utcnow,
    llm: ChatModel | None = None,
    ticket_token: str | None = None,
) -> Runtime:
    """Compose the runtime; the agent exists when an LLM endpoint is configured (or `llm` is given)."""
    llm_env = llm_env or LLMEnv()
    db = state_dir / DB_NAME
    snapshots = SnapshotStore(db)
    plans = PlanStore(db)
    actions = ActionStore(db)
    audit = AuditLog(db, clock=clock)
    proposals = ProposalStore(db, plans=plans, actions=actions, audit=audit, clock=clock)
    events = EventStore(db)
    ttl = timedelta(hours=settings.slack.proposal_ttl_hours)
    read_only = read_only_reason(settings)
    context = ToolContext(
        snapshot=lambda: None,
        propose=None if read_only else _proposer(proposals, ttl=ttl),
        propose_action=None if read_only else _action_proposer(proposals, ttl=ttl),
        read_only=read_only,
        portainer=_portainer_factory(settings, secrets),
        ticket_target=_ticket_target(settings),
        audit=_audit_reader(audit),
        now=clock,
        production=settings.environments,
        cost_per_gb_month=configured_prices(settings),
        events=events_access(settings, events, clock=clock),
        vulns=VulnsAccess(
            db_path=db,
            production_patterns=settings.environments.get("production", []),
            approved_bases=settings.vulns.approved_bases,
        ),
    )
    runtime = Runtime(
        settings=settings,
        secrets=secrets,
        state_dir=state_dir,
        snapshots=snapshots,
        plans=plans,
        audit=audit,
        events=events,
        proposals=proposals,
        toolbox=Toolbox(context),
        agent=None,
        registry_urls=list(registry_urls),
        docker_hosts=list(docker_hosts),
        clock=clock,
        actions=actions,
        ticket_token=ticket_token,
    )
    proposals.bind_action_runner(runtime.run_action)
    context.snapshot = runtime.latest_snapshot
    context.history = runtime.history
    context.policies = runtime.policies
    model = llm or _chat_model(settings, llm_env)
    if model is not None:
        runtime.agent = Agent(
            llm=model,
            toolbox=runtime.toolbox,
            prompts=Prompts(),
            memory=ConversationMemory(db, keep_turns=max(settings.llm.memory_turns, 1)),
            audit=_tool_audit(audit),
            limits=AgentLimits(
                max_steps=settings.llm.max_steps,
                tool_timeout_s=settings.llm.tool_timeout_s,
                memory_turns=settings.llm.memory_turns,
            ),
            prompt_values=lambda: {"inventory": inventory_line(runtime.latest_snapshot())},
            secrets_to_redact=secret_values(
                secrets, llm_env, [*extra_secrets, *([ticket_token] if ticket_token else [])]
            ),
            clock=clock,
        )
    return runtime


def runtime_from_env(
    settings: Settings,
    *,
    registry_urls: Sequence[str] = (),
    docker_hosts: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Runtime:
    """The runtime for a process: secrets, LLM endpoint and state directory from the environment."""
    slack = load_slack_env(env)
    events = load_events_secret(settings, env)
    ticket_token = load_vulns_env(settings, env).ticket_token
    extra = [
        s.get_secret_value() for s in (slack.bot_token, slack.app_token, slack.signing_secret, events) if s
    ]
    return build_runtime(
        settings=settings,
        secrets=load_secrets(settings, env),
        state_dir=state_dir(env),
        llm_env=load_llm_env(env),
        registry_urls=registry_urls,
        docker_hosts=docker_hosts,
        extra_secrets=extra,
        ticket_token=ticket_token.get_secret_value() if ticket_token else None,
    )


def _chat_model(settings: Settings, llm_env: LLMEnv) -> OpenAIChat | None:
    if not llm_env.configured:
        return None
    return OpenAIChat(
        model=llm_env.model or settings.llm.model,
        base_url=llm_env.base_url,
        api_key=llm_env.api_key.get_secret_value() if llm_env.api_key else None,
        temperature=settings.llm.temperature,
        timeout_s=settings.llm.request_timeout_s,
        stream=settings.llm.stream,
    )


def inventory_line(snapshot: InventorySnapshot | None) -> str:
    """One bounded line about the latest snapshot for the system prompt (counts only, no names)."""
    if snapshot is None:
        return "no inventory yet (tools will say so; suggest running `regent inventory`)."
    tags = sum(inv.tag_count for inv in snapshot.registries)
    return (
        f"snapshot of {snapshot.taken_at.strftime('%Y-%m-%d %H:%M')} UTC, {len(snapshot.registries)} "
        f"registries, {tags:,} tags, {len(snapshot.environments)} environments, "
        f"{len(snapshot.deployments):,} deployments."
    )


def _proposer(proposals: ProposalStore, *, ttl: timedelta) -> Callable[[Plan, str, str], ProposalRef]:
    def propose(plan: Plan, requester: str, conversation: str) -> ProposalRef:
        proposal = proposals.create(plan=plan, requester=requester, conversation=conversation, ttl=ttl)
        return ProposalRef(id=proposal.id, summary=proposal.summary, expires_at=proposal.expires_at)

    return propose


def _action_proposer(
    proposals: ProposalStore, *, ttl: timedelta
) -> Callable[[Action, str, str], ProposalRef]:
    def propose(action: Action, requester: str, conversation: str) -> ProposalRef:
        proposal = proposals.create_action(
            action=action, requester=requester, conversation=conversation, ttl=ttl
        )
        return ProposalRef(id=proposal.id, summary=proposal.summary, expires_at=proposal.expires_at)

    return propose


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


def _tool_audit(audit: AuditLog) -> Callable[[ToolCallEvent], None]:
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
