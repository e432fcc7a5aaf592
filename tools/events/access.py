"""What the events tools may use, injected into the ToolContext by the runtime (never read from globals)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tools.events.client import RateLimit
from tools.events.rules import AnomalyRules
from tools.events.stats import Exclusions
from tools.events.store import EventStore


@dataclass(frozen=True, slots=True)
class EventsAccess:
    """The event store plus the configuration the events tools apply."""

    store: EventStore
    exclusions: Exclusions = field(default_factory=Exclusions)
    anomaly_rules: AnomalyRules = field(default_factory=AnomalyRules)
    mirrors: Mapping[str, str] = field(default_factory=dict)  # pull-through cache host -> upstream
    rate_limit: Callable[[], RateLimit] | None = None  # Docker Hub check; None when not wired
    events_url: str | None = None  # public URL of /events/registry, for generated cache configs
