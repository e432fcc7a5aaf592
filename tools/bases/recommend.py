"""Rank the approved bases of a language by what the inventory knows about each candidate.

A candidate is a tag of an approved repository, in any crawled registry, whose tag the catalog allows.
Ranking, most important first: open critical and high vulnerabilities (fewer is better; unscanned bases
rank after scanned clean ones, since "no report" is not "no findings"), freshness (the newest of the
image's `created` and `pushed` clocks), adoption (how many teams — first path segment of a repository —
already build on it, found by layer prefix), and size. Each recommendation says all four, with their
clocks, so the reason can be checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from tools.analysis.base_image import image_layers
from tools.analysis.clocks import ClockData, age_days
from tools.analysis.view import RegistryView
from tools.bases.catalog import CatalogEntry, Language
from tools.bases.dockerfile import dockerfile_snippet
from tools.inventory.models import Digest
from tools.units import format_bytes


@dataclass(frozen=True, slots=True)
class VulnCounts:
    """Open findings of one image digest by severity (from the triage of stored scanner reports)."""

    critical: int = 0
    high: int = 0
    total: int = 0


class Candidate(BaseModel):
    """One approved base tag and the facts it was ranked by."""

    reference: str  # host/repository:tag
    pinned: str  # host/repository@sha256:…
    registry: str
    size_bytes: int
    size: str
    created: datetime | None
    pushed: datetime | None
    age_days: int | None  # of the newest clock
    age_clock: str  # which clock the age is from: pushed or created
    scanned: bool
    critical: int
    high: int
    findings: int
    teams: list[str]


class Recommendation(BaseModel):
    """The best candidate, the runners-up, and a Dockerfile snippet on the best one."""

    language: Language
    framework: str | None
    best: Candidate
    reason: str
    alternatives: list[Candidate]
    dockerfile: str


def find_candidates(
    views: Sequence[RegistryView],
    entry: CatalogEntry,
    *,
    vulns: Mapping[Digest, VulnCounts],
    clocks: Mapping[str, ClockData],
    now: datetime,
    repositories: Sequence[str] | None = None,
) -> list[Candidate]:
    """Every allowed tag of the entry's repositories (or `repositories`), with its facts, ranked."""
    wanted = set(repositories if repositories is not None else entry.repositories)
    found = []
    for view in views:
        for repository, tags in view.inventory.tags.items():
            if repository.lower() not in wanted:
                continue
            for tag, digest in sorted(tags.items()):
                if entry.allows_tag(tag):
                    clock = clocks.get(view.name, ClockData())
                    found.append(_candidate(view, repository, tag, digest, vulns, clock, now))
    return sorted(found, key=_rank)


def _candidate(
    view: RegistryView,
    repository: str,
    tag: str,
    digest: Digest,
    vulns: Mapping[Digest, VulnCounts],
    clock: ClockData,
    now: datetime,
) -> Candidate:
    image_digest, _layers = image_layers(view, digest)
    manifest = view.manifest(image_digest)
    created = manifest.created if manifest is not None else None
    # freshness: the latest push either notifications or the registry's own API know of (#13)
    pushes = [t for t in (clock.pushed.get(digest), clock.native_pushed.get(digest)) if t is not None]
    pushed = max(pushes, key=lambda t: t.timestamp()) if pushes else None
    newest, which = max(
        ((pushed, "pushed"), (created, "created")), key=lambda p: (p[0] is not None, p[0] or now)
    )
    counts = vulns.get(digest) or vulns.get(image_digest)
    host = view.inventory.source.image_host
    size = view.size(digest)
    return Candidate(
        reference=f"{host}/{repository}:{tag}",
        pinned=f"{host}/{repository}@{digest}",
        registry=view.name,
        size_bytes=size,
        size=format_bytes(size),
        created=created,
        pushed=pushed,
        age_days=int(age_days(now, newest)) if newest is not None else None,
        age_clock=which,
        scanned=counts is not None,
        critical=counts.critical if counts else 0,
        high=counts.high if counts else 0,
        findings=counts.total if counts else 0,
        teams=_teams_using(view, digest),
    )


def _teams_using(view: RegistryView, digest: Digest) -> list[str]:
    """Teams whose tagged images start with this base's layers (and have more of their own)."""
    _child, layers = image_layers(view, digest)
    if not layers:
        return []
    prefix = [d.digest for d in layers]
    teams: set[str] = set()
    for candidate in view.by_first_layer().get(prefix[0], ()):
        other = view.manifest(candidate)
        if other is None or len(other.layers) <= len(prefix):
            continue
        if [d.digest for d in other.layers[: len(prefix)]] == prefix:
            teams.update(repo.split("/")[0] for repo in view.repositories_of.get(candidate, ()))
    return sorted(teams)


def _rank(c: Candidate) -> tuple[int, int, int, float, int, int, str]:
    age = c.age_days if c.age_days is not None else 1 << 30
    return (
        c.critical + c.high,
        0 if c.scanned else 1,
        c.critical,
        age,
        -len(c.teams),
        c.size_bytes,
        c.reference,
    )


def recommend(
    language: Language,
    framework: str | None,
    candidates: list[Candidate],
    *,
    builders: list[Candidate],
) -> Recommendation | None:
    """The recommendation from ranked candidates (None when there is none)."""
    if not candidates:
        return None
    best, rest = candidates[0], candidates[1:4]
    build = builders[0].pinned if builders else best.pinned
    return Recommendation(
        language=language,
        framework=framework,
        best=best,
        reason=explain(best, runners_up=len(candidates) - 1),
        alternatives=rest,
        dockerfile=dockerfile_snippet(language, base=best.pinned, build=build, framework=framework),
    )


def explain(best: Candidate, *, runners_up: int) -> str:
    """Why this one: every fact it was ranked by, each with its source."""
    if best.scanned:
        vulns = (
            f"{best.critical} critical and {best.high} high open findings "
            f"({best.findings} in all, from scanner reports)"
        )
    else:
        vulns = "no scanner report yet (scan it before relying on it)"
    age = (
        f"{best.age_days} days old by its {best.age_clock} clock"
        if best.age_days is not None
        else "age unknown (no created or pushed time)"
    )
    teams = (
        f"used by {len(best.teams)} team(s): {', '.join(best.teams)}"
        if best.teams
        else "not used by any team yet"
    )
    return (
        f"{best.reference}: {vulns}; {age}; {teams}; {best.size} compressed. "
        f"Chosen over {runners_up} other approved tag(s): fewest critical+high findings first, then the "
        "newest, then the most used, then the smallest."
    )
