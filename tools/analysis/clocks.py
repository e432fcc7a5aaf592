"""Clocks: every age Regent reports names the clock it was measured by, and "unknown" is never "old".

- `created`: the image config's `created` (build time). Reproducible builds set it to the epoch, so any
  time before 1980 is treated as unknown rather than as 50 years old.
- `first_seen`: the first inventory snapshot that saw the digest (from the snapshot store).
- `pushed`, `last_pulled`: registry notifications, and the registry's own API where it has them (ECR
  `imagePushedAt`/`lastRecordedPullTime`, Harbor `push_time`/`pull_time`, ...: tools/registry/kinds).
  Where both know a digest, the earliest push and the latest pull win, and `Clocks.origin` names the
  source of the value used ("registry notifications" or the API field); absent → unknown.
For an index, `created` is its newest child's and `last_pulled` the latest pull of it or any child.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from tools.inventory.models import Digest, Manifest, RegistryInventory

ClockName = Literal["created", "first_seen", "pushed", "last_pulled"]

CLOCKS: tuple[ClockName, ...] = ("created", "first_seen", "pushed", "last_pulled")
# Reproducible builds (SOURCE_DATE_EPOCH=0) and some tools write the epoch or 1980-01-01 (zip's epoch).
CREATED_FLOOR = datetime(1980, 1, 2, tzinfo=UTC)
SECONDS_PER_DAY = 86400.0


EVENTS_ORIGIN = "registry notifications"
ORIGINS: Mapping[ClockName, str] = {
    "created": "image config created",
    "first_seen": "first crawl that saw it",
    "pushed": EVENTS_ORIGIN,
    "last_pulled": EVENTS_ORIGIN,
}


@dataclass(frozen=True, slots=True)
class ClockData:
    """Times the registry v2 API does not have: first sightings, push/pull notifications, native clocks.

    `pushed`/`last_pulled` come from notifications; `native_*` from the registry's own API, whose field
    names are `push_origin`/`pull_origin` (None: the registry has no such clock). They are kept apart, so
    each time used can name where it came from, and merged at lookup.
    """

    first_seen: Mapping[Digest, datetime] = field(default_factory=dict)
    pushed: Mapping[Digest, datetime] = field(default_factory=dict)
    last_pulled: Mapping[Digest, datetime] = field(default_factory=dict)
    native_pushed: Mapping[Digest, datetime] = field(default_factory=dict)
    native_last_pulled: Mapping[Digest, datetime] = field(default_factory=dict)
    push_origin: str | None = None
    pull_origin: str | None = None

    def has(self, clock: ClockName) -> bool:
        """True when some digest has a time by this clock (created: always possible)."""
        if clock == "pushed":
            return bool(self.pushed or self.native_pushed)
        if clock == "last_pulled":
            return bool(self.last_pulled or self.native_last_pulled)
        return clock == "created" or bool(self.first_seen)

    def with_native(self, inventory: RegistryInventory) -> ClockData:
        """These clocks plus the inventory's native ones (unchanged when they are already in)."""
        if self.native_pushed or self.native_last_pulled or self.push_origin or self.pull_origin:
            return self
        if not (inventory.pushed or inventory.last_pulled or inventory.push_clock or inventory.pull_clock):
            return self
        return replace(
            self,
            native_pushed=inventory.pushed,
            native_last_pulled=inventory.last_pulled,
            push_origin=inventory.push_clock,
            pull_origin=inventory.pull_clock,
        )


def native_clocks(inventory: RegistryInventory, data: ClockData | None = None) -> ClockData:
    """`data` (or no notification clocks) with the inventory's native clocks merged in."""
    return (data or ClockData()).with_native(inventory)


def as_utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime; naive values are taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def age_days(now: datetime, moment: datetime) -> float:
    """Days from moment to now (negative if moment is in the future)."""
    return (as_utc(now) - as_utc(moment)).total_seconds() / SECONDS_PER_DAY


class Clocks:
    """Resolves a digest's time by a named clock, caching per clock; None means unknown."""

    def __init__(self, manifests: Mapping[Digest, Manifest], data: ClockData | None = None) -> None:
        self._manifests = manifests
        self._data = data or ClockData()
        self._cache: dict[ClockName, dict[Digest, datetime | None]] = {c: {} for c in CLOCKS}

    @property
    def data(self) -> ClockData:
        """The clock data these times come from."""
        return self._data

    def time(self, digest: Digest, clock: ClockName) -> datetime | None:
        """The digest's time by this clock, or None when unknown."""
        if not self._data.has(clock):
            return None  # no data for this clock at all (the usual case for pulls): nothing to look up
        cache = self._cache[clock]
        if digest in cache:
            return cache[digest]
        value = self._resolve(digest, clock)
        cache[digest] = value
        return value

    def origin(self, digest: Digest, clock: ClockName) -> str:
        """Where the digest's time by this clock comes from, in words ("ECR lastRecordedPullTime").

        For display only (a few rows): recomputed, not cached, so a million-digest plan pays nothing.
        """
        if clock not in ("pushed", "last_pulled"):
            return ORIGINS[clock]
        moment = self.time(digest, clock)
        manifest = self._manifests.get(digest)
        members = [digest] + ([c.digest for c in manifest.children] if manifest is not None else [])
        native = self._data.native_pushed if clock == "pushed" else self._data.native_last_pulled
        named = self._data.push_origin if clock == "pushed" else self._data.pull_origin
        if moment is not None and named and any(_same(native.get(d), moment) for d in members):
            return named
        return EVENTS_ORIGIN

    def _resolve(self, digest: Digest, clock: ClockName) -> datetime | None:
        manifest = self._manifests.get(digest)
        children = [c.digest for c in manifest.children] if manifest is not None else []
        if clock == "created":
            if manifest is None:
                return None
            if children:
                return _latest(self.time(child, "created") for child in children)
            created = as_utc(manifest.created) if manifest.created else None
            return created if created is not None and created >= CREATED_FLOOR else None
        if clock == "first_seen":
            own = self._data.first_seen.get(digest)
            if own is not None or not children:
                return as_utc(own) if own is not None else None
            return _earliest(self._data.first_seen.get(child) for child in children)
        if clock == "pushed":
            own = self._pushed(digest)
            if own is not None or not children:
                return own
            return _latest(self._pushed(child) for child in children)
        return _latest(self._pulled(d) for d in [digest, *children])

    def _pushed(self, digest: Digest) -> datetime | None:
        """The earliest push either source knows (a re-push notification does not make an image new)."""
        return _earliest((self._data.pushed.get(digest), self._data.native_pushed.get(digest)))

    def _pulled(self, digest: Digest) -> datetime | None:
        """The latest pull either source knows."""
        return _latest((self._data.last_pulled.get(digest), self._data.native_last_pulled.get(digest)))


def _same(moment: datetime | None, other: datetime) -> bool:
    return moment is not None and as_utc(moment) == other


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    known = [as_utc(t) for t in times if t is not None]
    return max(known) if known else None


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    known = [as_utc(t) for t in times if t is not None]
    return min(known) if known else None
