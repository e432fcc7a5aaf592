"""What the toolbox's tools may use, injected by the composition root (bot/app.py).

Tools never reach for globals, env or the bot package: the latest snapshot, history, policies, the plan
store, the proposal maker and the audit reader all arrive here as plain callables, so tests can build a
context from a synthetic snapshot and the bot can wire the real stores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from tools.analysis.history import RegistryHistory
from tools.analysis.reclaim import Revision
from tools.bases.catalog import BaseCatalog
from tools.changes.registry_host import RegistryService
from tools.compliance.build import AuditView
from tools.errors import RegentError
from tools.events.access import EventsAccess
from tools.inventory.models import InventorySnapshot
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan

if TYPE_CHECKING:  # tools.vulns imports the catalog, which imports this module
    from tools.changes.actions import Action
    from tools.portainer.client import PortainerClient
    from tools.vulns.service import VulnsAccess
    from tools.vulns.tickets import TicketTarget


class ToolFailure(RegentError):
    """A tool cannot answer; `message` says why and `hint` what the model should do instead."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class ProposalRef:
    """What a proposing tool learns about the proposal it created (the Slack side renders the card)."""

    id: str
    summary: str
    expires_at: datetime


# (plan, requester, conversation) -> the stored proposal. bot/app.py wires both to bot.approvals'
# ProposalStore.create, which stores the change too (changes are immutable, keyed by kind and id).
ProposeFn = Callable[[Plan, str, str], ProposalRef]
# (action, requester, conversation) -> the stored proposal (the same ProposalStore.create).
ProposeActionFn = Callable[["Action", str, str], ProposalRef]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit log entry as the audit_log tool shows it."""

    at: datetime
    actor: str
    action: str
    conversation: str
    summary: str


class AuditReader(Protocol):
    """Reads recent audit entries, newest first."""

    def __call__(
        self, *, limit: int, actor: str | None, action: str | None, since: datetime | None
    ) -> list[AuditRecord]:
        """Entries matching the filters, newest first, at most `limit`."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class ToolContext:
    """Everything the tools read or call; built once per process by the runtime."""

    snapshot: Callable[[], InventorySnapshot | None]
    history: Callable[[InventorySnapshot], Mapping[str, RegistryHistory]] = lambda _s: {}
    policies: Callable[[], PolicyFile | None] = lambda: None
    propose: ProposeFn | None = None
    audit: AuditReader | None = None
    now: Callable[[], datetime] = _utc_now
    production: Mapping[str, list[str]] = field(default_factory=dict)  # group -> environment globs
    cost_per_gb_month: Mapping[str, float] = field(default_factory=dict)  # registry name -> cost
    vulns: VulnsAccess | None = None  # uploaded vulnerability reports and KEV/EPSS; None: not configured
    events: EventsAccess | None = None  # registry notifications (tools/events); None when not received
    propose_action: ProposeActionFn | None = None  # stores an Action and its proposal (suspension, ticket)
    portainer: Callable[[], PortainerClient] | None = (
        None  # a new client, closed by the caller; None: no Portainer
    )
    ticket_target: TicketTarget | None = None  # the configured ticket webhook (vulns.ticket); no token
    read_only: str | None = None  # why nothing may be proposed (mode: read-only); None: proposals allowed
    delete_refusals: Mapping[str, str] = field(default_factory=dict)  # registry -> why deletes will fail
    base_catalog: BaseCatalog = field(default_factory=dict)  # approved bases per language (`bases:`)
    audit_view: Callable[[], AuditView] | None = None  # audit entries + chain check (compliance)
    registry_services: Mapping[str, RegistryService] = field(default_factory=dict)  # by registry name
    deleted_since_gc: Callable[[str], list[Revision]] | None = None  # registry -> deleted, not yet collected
    stored_action: Callable[[str], Action] | None = None  # a stored Action by id (a revert reads it)
    _cache: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """A value derived from the current snapshot, built once per snapshot (key includes its time)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = build()
        with self._lock:
            if len(self._cache) > 32:  # old snapshots' derivations: drop them all, rebuilding is cheap
                self._cache.clear()
            self._cache[key] = value
        return value


def require_writable(context: ToolContext) -> None:
    """A ToolFailure saying why when the configuration is read-only (proposing tools call this first)."""
    if context.read_only:
        raise ToolFailure(context.read_only, hint="tell the user exactly this; do not retry")


@dataclass(frozen=True, slots=True)
class Call:
    """One tool invocation: the shared context plus who asked, in which conversation."""

    context: ToolContext
    user: str
    conversation: str

    def require_snapshot(self) -> InventorySnapshot:
        """The latest snapshot, or a ToolFailure the model can explain to the user."""
        snapshot = self.context.snapshot()
        if snapshot is None:
            raise ToolFailure(
                "no inventory snapshot exists yet",
                hint="tell the user to run `regent inventory` (or wait for the scheduled crawl)",
            )
        return snapshot
