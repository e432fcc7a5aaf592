"""Clocks: every age Regent reports names the clock it was measured by, and "unknown" is never "old".

- `created`: the image config's `created` (build time). Reproducible builds set it to the epoch, so any
  time before 1980 is treated as unknown rather than as 50 years old.
- `first_seen`: the first inventory snapshot that saw the digest (from the snapshot store).
- `pushed`, `last_pulled`: registry notifications (or a registry API that has them); absent → unknown.
For an index, `created` is its newest child's and `last_pulled` the latest pull of it or any child.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from tools.inventory.models import Digest, Manifest

ClockName = Literal["created", "first_seen", "pushed", "last_pulled"]

CLOCKS: tuple[ClockName, ...] = ("created", "first_seen", "pushed", "last_pulled")
# Reproducible builds (SOURCE_DATE_EPOCH=0) and some tools write the epoch or 1980-01-01 (zip's epoch).
CREATED_FLOOR = datetime(1980, 1, 2, tzinfo=UTC)
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ClockData:
    """Times the registry v2 API does not have: first sightings and push/pull notifications, by digest."""

    first_seen: Mapping[Digest, datetime] = field(default_factory=dict)
    pushed: Mapping[Digest, datetime] = field(default_factory=dict)
    last_pulled: Mapping[Digest, datetime] = field(default_factory=dict)


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
        self._by_clock: dict[ClockName, Mapping[Digest, datetime]] = {
            "first_seen": self._data.first_seen,
            "pushed": self._data.pushed,
            "last_pulled": self._data.last_pulled,
        }

    def time(self, digest: Digest, clock: ClockName) -> datetime | None:
        """The digest's time by this clock, or None when unknown."""
        if clock != "created" and not self._by_clock[clock]:
            return None  # no data for this clock at all (the usual case for pulls): nothing to look up
        cache = self._cache[clock]
        if digest in cache:
            return cache[digest]
        value = self._resolve(digest, clock)
        cache[digest] = value
        return value

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
        own_map = {"first_seen": self._data.first_seen, "pushed": self._data.pushed}.get(clock)
        if own_map is not None:
            own = own_map.get(digest)
            if own is not None or not children:
                return as_utc(own) if own is not None else None
            times = [own_map.get(child) for child in children]
            return _earliest(times) if clock == "first_seen" else _latest(times)
        pulls = [self._data.last_pulled.get(digest)] + [self._data.last_pulled.get(c) for c in children]
        return _latest(pulls)


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    known = [as_utc(t) for t in times if t is not None]
    return max(known) if known else None


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    known = [as_utc(t) for t in times if t is not None]
    return min(known) if known else None
