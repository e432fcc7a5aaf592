"""The one composition root: settings and secrets in, every service out.

`app_from_env` is what every command calls (it is the only path from the process environment to a
running Regent); `build_app` composes from explicit values, for tests and the demo. The App holds the
stores (snapshots, plans, changes, proposals, audit, events), the toolbox and its context, and the agent
(None when no LLM is configured); `run_change` is how an approved proposal of any kind is executed.
Every secret the App holds is redacted before anything reaches the LLM: the list comes from
`Secrets.values()`, never from a hand-written list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.agent.llm import ChatModel
from bot.agent.loop import Agent
from bot.approvals import Authorizer, ProposalStore
from bot.approvals.audit import AuditLog
from bot.assistant import build_agent, chat_model, plain
from bot.config import (
    Secrets,
    Settings,
    load_secrets,
    load_settings,
    read_only_reason,
    state_dir,
)
from bot.config.env import Env
from bot.inventory_run import DB_NAME, crawl_and_save, with_portainer_url
from bot.metrics import MeteredChat, Metrics, requests_by_registry
from bot.sources import Sources, build_sources
from bot.toolbox_context import build_context
from tools.analysis.history import RegistryHistory, build_history
from tools.changes.actions import ActionStore
from tools.changes.base import Change, ChangeReport, ChangeServices
from tools.changes.gc import deleted_since_last_gc
from tools.changes.revalidate import RegistryDeleter
from tools.changes.store import ChangeStore
from tools.errors import RegentError
from tools.events.stats import Exclusions, clock_data
from tools.events.store import EventStore
from tools.inventory.inventory import resolve_deployments
from tools.inventory.models import Deployment, InventorySnapshot
from tools.inventory.store import SnapshotStore
from tools.policy.loader import load_policies
from tools.policy.model import PolicyFile
from tools.policy.store import PlanStore
from tools.portainer.client import PortainerClient
from tools.toolbox.context import ProposalRef
from tools.toolbox.dispatch import Toolbox

log = logging.getLogger(__name__)

__all__ = ["DB_NAME", "App", "app_for_sources", "app_from_env", "build_app"]

HISTORY_SNAPSHOTS = 8  # earlier crawls consulted for dangling digests; each is decoded in full


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class App:
    """Everything a front end (CLI, Slack, MCP, tests) needs, built once per process."""

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
    metrics: Metrics = field(default_factory=Metrics)  # served at regent serve's /metrics
    _latest: tuple[int, InventorySnapshot] | None = None
    _policies: tuple[float, PolicyFile] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def db_path(self) -> Path:
        """The state database (snapshots, plans, proposals, events, vulnerability data, audit log)."""
        return self.state_dir / DB_NAME

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
        started = time.monotonic()
        sources = self.sources()
        try:
            snapshot = crawl_and_save(
                sources,
                self.snapshots,
                workers=self.settings.crawl_workers,
                now=self.clock(),
                progress=progress,
            )
            self.metrics.observe_crawl(
                kind="full",
                seconds=time.monotonic() - started,
                partial=any(inventory.partial for inventory in snapshot.registries),
                requests=requests_by_registry(sources.registries),
                taken_at=snapshot.taken_at.timestamp(),
            )
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
        deleted = self.plans.gone()
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
                gone={
                    (repo, digest): at
                    for (reg, repo, digest), at in deleted.items()
                    if reg == inventory.source.name
                },
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
        sources = self.sources()
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

    def run_change(self, change: Change) -> ChangeReport:
        """Run an approved change once through its kind (the path every approval takes), re-validated."""
        self._require_cleanup_mode()
        services = ChangeServices(
            now=self.clock,
            registry_clients=self._registry_clients,
            current_deployments=self.current_deployments,
            portainer_client=self.portainer_client,
            ticket_target=lambda: self.toolbox.context.ticket_target,  # read at click time
            ticket_token=plain(self.secrets.vulns.ticket_token),
        )
        return self.proposals.changes.run(change, services=services)

    @contextmanager
    def _registry_clients(self) -> Iterator[Mapping[str, RegistryDeleter]]:
        sources = self.sources()
        try:
            yield {target.source.name: target.client for target in sources.registries}
        finally:
            sources.close()

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

    def sources(self, *, with_docker_hosts: bool = True) -> Sources:
        """Fresh clients for every configured registry and environment (the caller closes them)."""
        return build_sources(
            self.settings,
            self.secrets,
            registry_urls=self.registry_urls,
            docker_hosts=self.docker_hosts if with_docker_hosts else [],
            store=self.snapshots,
            cache_dir=self.state_dir / "cache",
        )


def build_app(
    *,
    settings: Settings,
    secrets: Secrets,
    state_dir: Path,
    registry_urls: Sequence[str] = (),
    docker_hosts: Sequence[str] = (),
    clock: Callable[[], datetime] = _utcnow,
    llm: ChatModel | None = None,
) -> App:
    """Compose the app; the agent exists when an LLM endpoint is configured (or `llm` is given)."""
    db = state_dir / DB_NAME
    snapshots = SnapshotStore(db)
    plans = PlanStore(db)
    actions = ActionStore(db)
    audit = AuditLog(db, clock=clock)
    changes = ChangeStore(plans=plans, actions=actions)
    proposals = ProposalStore(db, changes=changes, audit=audit, clock=clock)
    events = EventStore(db)
    ttl = timedelta(hours=settings.slack.proposal_ttl_hours)
    read_only = read_only_reason(settings)
    context = build_context(
        settings,
        secrets,
        db=db,
        audit=audit,
        events=events,
        clock=clock,
        propose=None if read_only else _proposer(proposals, ttl=ttl),
        propose_action=None if read_only else _proposer(proposals, ttl=ttl),
    )
    app = App(
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
    )
    proposals.bind_runner(app.run_change)
    context.snapshot = app.latest_snapshot
    context.history = app.history
    context.policies = app.policies
    context.deleted_since_gc = lambda registry: deleted_since_last_gc(plans, actions, registry)
    context.stored_action = actions.get
    audit.observe(app.metrics.observe_audit)
    app.toolbox.observe(app.metrics.observe_tool)
    model = llm or chat_model(settings, secrets)
    if model is not None:
        app.agent = build_agent(
            model=MeteredChat(model, app.metrics),
            toolbox=app.toolbox,
            audit=app.audit,
            settings=settings,
            secrets=secrets,
            db=db,
            latest_snapshot=app.latest_snapshot,
            clock=app.clock,
        )
    return app


def app_for_sources(args: Any, *, env: Env | None = None) -> App:
    """The app of a command that takes the source flags (--config, --portainer, --registry, --docker-host)."""
    return app_from_env(
        config=args.config,
        portainer_url=getattr(args, "portainer", None),
        registry_urls=list(getattr(args, "registry", []) or []),
        docker_hosts=list(getattr(args, "docker_host", []) or []),
        env=env,
    )


def app_from_env(
    *,
    config: str | None = None,
    settings: Settings | None = None,
    portainer_url: str | None = None,
    registry_urls: Sequence[str] = (),
    docker_hosts: Sequence[str] = (),
    env: Env | None = None,
) -> App:
    """The app of a process: settings from the config file, secrets and state directory from the env.

    `portainer_url` (the `--portainer` flag) overrides the configuration file's Portainer URL.
    """
    if settings is None:
        settings = load_settings(config, env)
    settings = with_portainer_url(settings, portainer_url)
    return build_app(
        settings=settings,
        secrets=load_secrets(settings, env),
        state_dir=state_dir(env),
        registry_urls=registry_urls,
        docker_hosts=docker_hosts,
    )


def _proposer(proposals: ProposalStore, *, ttl: timedelta) -> Callable[[Change, str, str], ProposalRef]:
    """What a proposing tool calls, for any kind of change: store it and a pending proposal."""

    def propose(change: Change, requester: str, conversation: str) -> ProposalRef:
        proposal = proposals.create(change=change, requester=requester, conversation=conversation, ttl=ttl)
        return ProposalRef(id=proposal.id, summary=proposal.summary, expires_at=proposal.expires_at)

    return propose
