"""Everything a digest section may use, gathered once from the state database at send time.

Section providers (bot/digest/sections*.py, and later vulnerabilities and events) get a DigestContext
and return a DigestSection, or None when they have nothing to say.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.approvals.store import Proposal
from bot.config import DigestSettings, Settings, configured_prices, configured_quota
from bot.digest.model import DigestSection
from tools.analysis.clocks import as_utc
from tools.analysis.cost import Price, storage_price
from tools.analysis.history import RegistryHistory, build_history
from tools.analysis.storage import (
    RepositoryGrowth,
    growth_drivers,
    pick_snapshot,
    registry_series,
    repository_bytes,
)
from tools.analysis.trends import Forecast, SeriesPoint, daily_points, forecast_series
from tools.events.rules import PushRules
from tools.inventory.models import InventorySnapshot, RegistryInventory
from tools.inventory.store import RegistryStats, SnapshotStore
from tools.policy.plans import Plan

HistorySource = Callable[[InventorySnapshot], Mapping[str, RegistryHistory]]  # by registry name
DRIVER_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    """One registry of the latest snapshot with its history, forecast, price and quota."""

    inventory: RegistryInventory
    current: RegistryStats
    previous: RegistryStats | None  # in the snapshot of the previous digest
    series: list[SeriesPoint]  # daily stored bytes within the forecast window
    forecast: Forecast
    price: Price
    quota: int | None
    history: RegistryHistory
    first_crawled_at: datetime
    drivers: list[RepositoryGrowth] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The registry's name."""
        return self.inventory.source.name


@dataclass(frozen=True, slots=True)
class RetentionView:
    """What the retention policies would delete now: the plan, per-registry totals, or why there is none."""

    plan: Plan | None = None
    per_registry: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # name -> (items, bytes)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DigestContext:
    """The inputs of one digest."""

    now: datetime
    timezone: ZoneInfo
    since: datetime  # the previous digest, or a day ago
    previous_sent_at: datetime | None
    snapshot: InventorySnapshot
    snapshot_id: int
    registries: list[RegistryFacts]
    options: DigestSettings
    production: list[str]
    push_rules: PushRules
    retention: RetentionView = field(default_factory=RetentionView)
    pending: Sequence[Proposal] = ()
    read_only: bool = False  # mode: read-only: no "Turn into a proposal" button


SectionProvider = Callable[[DigestContext], DigestSection | None]


def collect_context(
    store: SnapshotStore,
    settings: Settings,
    *,
    now: datetime,
    previous_sent_at: datetime | None = None,
    previous_snapshot_id: int | None = None,
    history: HistorySource | None = None,
    pending: Sequence[Proposal] = (),
) -> DigestContext | None:
    """Read the latest snapshot, its history and forecasts; None before the first inventory.

    `history` gives each registry's RegistryHistory (bot.app.App.history: first sightings, push
    and pull clocks from registry events, dangling digests); without it only first sightings are used.
    """
    options = settings.digest
    stats = store.stats()
    if not stats:
        return None
    latest_id = max(s.snapshot_id for s in stats)
    snapshot = store.snapshot(latest_id)
    if snapshot is None:
        return None
    tz = ZoneInfo(options.timezone)
    histories = (history or _first_seen_history(store, now=now))(snapshot)
    decoded: dict[int, InventorySnapshot] = {latest_id: snapshot}
    registries = [
        _registry_facts(
            inventory,
            stats,
            settings,
            store=store,
            now=now,
            tz=tz,
            history=histories.get(inventory.source.name) or RegistryHistory(),
            decoded=decoded,
            latest_id=latest_id,
            previous_snapshot_id=previous_snapshot_id,
        )
        for inventory in snapshot.registries
    ]
    return DigestContext(
        now=as_utc(now),
        timezone=tz,
        since=as_utc(previous_sent_at) if previous_sent_at else as_utc(now) - timedelta(days=1),
        previous_sent_at=previous_sent_at,
        snapshot=snapshot,
        snapshot_id=latest_id,
        registries=[r for r in registries if r is not None],
        options=options,
        production=list(settings.environments.get("production", [])),
        push_rules=settings.events.push,
        pending=pending,
        read_only=settings.mode == "read-only",
    )


def _registry_facts(
    inventory: RegistryInventory,
    stats: Sequence[RegistryStats],
    settings: Settings,
    *,
    store: SnapshotStore,
    now: datetime,
    tz: ZoneInfo,
    history: RegistryHistory,
    decoded: dict[int, InventorySnapshot],
    latest_id: int,
    previous_snapshot_id: int | None,
) -> RegistryFacts | None:
    source = inventory.source
    mine = [s for s in stats if s.registry_url == source.url]
    current = next((s for s in mine if s.snapshot_id == latest_id), None)
    if current is None:
        return None
    previous = next((s for s in mine if s.snapshot_id == previous_snapshot_id), None)
    window_start = as_utc(now) - timedelta(days=settings.digest.forecast_days)
    series = daily_points(
        [p for p in registry_series(mine, source.url) if as_utc(p.at) >= window_start], tz=tz
    )
    return RegistryFacts(
        inventory=inventory,
        current=current,
        previous=previous,
        series=series,
        forecast=forecast_series(series),
        price=storage_price(source, configured=configured_prices(settings)),
        quota=configured_quota(settings, source),
        history=history,
        first_crawled_at=min(as_utc(s.taken_at) for s in mine),
        drivers=_drivers(inventory, mine, store=store, now=now, decoded=decoded, latest_id=latest_id),
    )


def _first_seen_history(store: SnapshotStore, *, now: datetime, earlier_snapshots: int = 8) -> HistorySource:
    """Histories from the snapshot store alone: first sightings and dangling digests, no event clocks."""

    def history(snapshot: InventorySnapshot) -> dict[str, RegistryHistory]:
        earlier = [s for s in store.snapshots(limit=earlier_snapshots) if s.taken_at < snapshot.taken_at]
        return {
            inv.source.name: build_history(inv, earlier, now=now, first_seen=store.first_seen(inv.source.url))
            for inv in snapshot.registries
        }

    return history


def _drivers(
    inventory: RegistryInventory,
    mine: Sequence[RegistryStats],
    *,
    store: SnapshotStore,
    now: datetime,
    decoded: dict[int, InventorySnapshot],
    latest_id: int,
) -> list[RepositoryGrowth]:
    """Repositories that grew most over the last week (or since the oldest snapshot, if younger)."""
    before = pick_snapshot(mine, at_or_before=as_utc(now) - DRIVER_WINDOW)
    if before is None:
        complete = [s for s in mine if not s.partial and s.snapshot_id != latest_id]
        before = min(complete, key=lambda s: (as_utc(s.taken_at), s.snapshot_id), default=None)
    if before is None or before.snapshot_id == latest_id:
        return []
    if before.snapshot_id not in decoded:
        old = store.snapshot(before.snapshot_id)
        if old is None:
            return []
        decoded[before.snapshot_id] = old
    then = next(
        (r for r in decoded[before.snapshot_id].registries if r.source.url == inventory.source.url), None
    )
    if then is None:
        return []
    return growth_drivers(
        inventory.source.name,
        repository_bytes(then),
        repository_bytes(inventory),
        since=as_utc(before.taken_at),
    )
