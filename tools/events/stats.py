"""Pull statistics and the `pushed` / `last_pulled` clocks, from stored events.

A pull counts as use only when neither its actor nor its user agent is excluded: scanners, replication and
CI re-pull old images all the time, and Regent's own crawler (user agent `regent/...`) HEADs every tag,
which distribution reports as pulls. Exclusions apply when reading, so changing them needs no re-ingest.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.clocks import ClockData
from tools.events.store import EventStore

# Regent's own registry client sends this user agent (tools/registry/http.py); never count it as use.
REGENT_USER_AGENT_GLOB = "regent/*"


class Exclusions(BaseModel):
    """Actors and user agents whose pulls are not use (case-insensitive shell globs)."""

    model_config = ConfigDict(frozen=True)

    actors: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()

    def excludes(self, actor: str, user_agent: str) -> bool:
        """True when a pull by this actor with this user agent does not count."""
        ua = user_agent.lower()
        if fnmatch.fnmatchcase(ua, REGENT_USER_AGENT_GLOB):
            return True
        name = actor.lower()
        if name and any(fnmatch.fnmatchcase(name, glob.lower()) for glob in self.actors):
            return True
        return bool(ua) and any(fnmatch.fnmatchcase(ua, glob.lower()) for glob in self.user_agents)


class PullCount(BaseModel):
    """Counted pulls of one tag or one digest."""

    repository: str
    tag: str | None = Field(default=None, description="set for per-tag counts")
    digest: str | None = Field(default=None, description="set for per-digest counts")
    pulls: int = Field(description="pulls that count as use")
    last_pulled: datetime | None = Field(default=None, description="latest counted pull; None when never")
    first_pulled: datetime | None = None
    actors: int = Field(default=0, description="distinct actors among counted pulls")
    excluded_pulls: int = Field(default=0, description="pulls by excluded actors or user agents")


class PullStats(BaseModel):
    """Pull statistics of one registry (optionally one repository) since a time."""

    registry: str | None
    repository: str | None
    since: datetime | None
    by_tag: list[PullCount]
    by_digest: list[PullCount]
    counted_pulls: int
    excluded_pulls: int
    excluded_actors: list[str] = Field(description="actors whose pulls were excluded")


@dataclass(slots=True)
class _Tally:
    pulls: int = 0
    excluded: int = 0
    first: datetime | None = None
    last: datetime | None = None
    actors: set[str] = field(default_factory=set)

    def add(self, count: int, first: datetime, last: datetime, actor: str, *, excluded: bool) -> None:
        if excluded:
            self.excluded += count
            return
        self.pulls += count
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)
        if actor:
            self.actors.add(actor)


def pull_stats(
    store: EventStore,
    *,
    exclusions: Exclusions,
    registry: str | None = None,
    repository: str | None = None,
    since: datetime | None = None,
) -> PullStats:
    """Counted and excluded manifest pulls per tag and per digest."""
    by_tag: dict[tuple[str, str], _Tally] = {}
    by_digest: dict[tuple[str, str], _Tally] = {}
    excluded_actors: set[str] = set()
    counted = excluded_total = 0
    groups = store.pull_groups(registry=registry, repository=repository, since=since)
    for _reg, repo, digest, tag, actor, agent, count, first, last in groups:
        excluded = exclusions.excludes(actor, agent)
        if excluded:
            excluded_total += count
            excluded_actors.add(actor or f"(anonymous, {agent or 'no user agent'})")
        else:
            counted += count
        if tag:
            by_tag.setdefault((repo, tag), _Tally()).add(count, first, last, actor, excluded=excluded)
        if digest:
            by_digest.setdefault((repo, digest), _Tally()).add(count, first, last, actor, excluded=excluded)
    return PullStats(
        registry=registry,
        repository=repository,
        since=since,
        by_tag=[_count(repo, t, tag=tag) for (repo, tag), t in sorted(by_tag.items())],
        by_digest=[_count(repo, t, digest=d) for (repo, d), t in sorted(by_digest.items())],
        counted_pulls=counted,
        excluded_pulls=excluded_total,
        excluded_actors=sorted(excluded_actors),
    )


def _count(repository: str, tally: _Tally, *, tag: str | None = None, digest: str | None = None) -> PullCount:
    return PullCount(
        repository=repository,
        tag=tag,
        digest=digest,
        pulls=tally.pulls,
        last_pulled=tally.last,
        first_pulled=tally.first,
        actors=len(tally.actors),
        excluded_pulls=tally.excluded,
    )


def last_pulled(store: EventStore, *, registry: str, exclusions: Exclusions) -> dict[str, datetime]:
    """Digest -> latest counted pull, for one registry host."""
    out: dict[str, datetime] = {}
    for _reg, _repo, digest, _tag, actor, agent, _n, _first, last in store.pull_groups(registry=registry):
        if digest and not exclusions.excludes(actor, agent):
            out[digest] = max(out.get(digest, last), last)
    return out


def clock_data(
    store: EventStore,
    *,
    registry: str,
    exclusions: Exclusions,
    first_seen: dict[str, datetime] | None = None,
) -> ClockData:
    """The `pushed` (latest push) and `last_pulled` (latest counted pull) clocks of one registry host.

    `registry` is the host clients use (`RegistrySource.image_host`), which is what events carry.
    """
    return ClockData(
        first_seen=first_seen or {},
        pushed=store.push_times(registry=registry),
        last_pulled=last_pulled(store, registry=registry, exclusions=exclusions),
    )
