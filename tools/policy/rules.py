"""Per-repository decisions: what each policy's keep and delete rules say about each digest.

Decisions are per digest (DELETE by digest removes every tag on it): a digest is kept when any keep rule
matches any of its tags, and deleted only when a delete rule matches and nothing keeps it. Digests with a
tag outside a policy's `tags` scope are out of that policy's reach. Plain dicts and sets throughout: this
runs once per digest on inventories of 100,000 tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tools.analysis.clocks import ClockName, Clocks, age_days
from tools.analysis.graph import RepositoryGraph
from tools.analysis.history import DanglingDigest
from tools.inventory.models import Deployment, Digest, RegistrySource
from tools.policy.model import DeleteRule, KeepRule, Policy
from tools.policy.patterns import compile_pattern, first_match

Named = tuple[tuple[str, re.Pattern[str]], ...]  # (source, compiled) pairs, so reasons can quote the rule
SEMVER = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\Z"
)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy with its patterns compiled once."""

    policy: Policy
    registry: re.Pattern[str]
    repositories: tuple[re.Pattern[str], ...]
    scope: tuple[re.Pattern[str], ...]
    scope_all: bool  # the scope matches every tag (tags never contain "/")
    keep_tags: tuple[Named, ...]  # per keep rule; empty for rules without `tags`


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Compile a validated policy's globs and regexes."""
    return CompiledPolicy(
        policy=policy,
        registry=compile_pattern(policy.registry),
        repositories=tuple(compile_pattern(p) for p in policy.repositories),
        scope=tuple(compile_pattern(p) for p in policy.tags),
        scope_all=any(p in ("*", "**") for p in policy.tags),
        keep_tags=tuple(named_patterns(rule.tags or ()) for rule in policy.keep),
    )


def named_patterns(patterns: tuple[str, ...] | list[str]) -> Named:
    """Compile patterns, keeping their source text."""
    return tuple((p, compile_pattern(p)) for p in patterns)


def matches_registry(policy: CompiledPolicy, source: RegistrySource) -> bool:
    """True if the registry pattern matches the registry's name, URL or host[:port]."""
    host = source.url.split("://", 1)[-1].rstrip("/")
    return any(policy.registry.match(name) for name in (source.name, source.url, host))


def matches_repository(policy: CompiledPolicy, repository: str) -> bool:
    """True if any repository pattern matches the whole repository name."""
    return any(p.match(repository) for p in policy.repositories)


@dataclass(slots=True)
class RepositoryFacts:
    """Everything a decision about one repository's digests needs."""

    graph: RepositoryGraph
    clocks: Clocks
    now: datetime
    usage: Mapping[Digest, list[Deployment]]
    dangling: Mapping[Digest, DanglingDigest]
    protected: Named


def hard_keeps(facts: RepositoryFacts) -> dict[Digest, str]:
    """Digests kept whatever any policy says: in use, protected tag, subject in another repository."""
    out: dict[Digest, str] = {}
    graph = facts.graph
    for digest in graph.digests:
        users = facts.usage.get(digest)
        if users:
            out[digest] = describe_users(users)
            continue
        if facts.protected:
            for tag in graph.all_tags(digest):
                source = first_match(facts.protected, tag)
                if source is not None:
                    out[digest] = f"protected tag {tag!r} (matches {source!r})"
                    break
        if digest not in out and digest in graph.foreign_referrers:
            out[digest] = "signature/attestation whose subject lives in another repository"
    return out


def describe_users(users: list[Deployment]) -> str:
    """Reason text for a digest in use."""
    first = users[0]
    state = f", {first.state}" if first.state else ""
    more = f" and {len(users) - 1} more" if len(users) > 1 else ""
    return f"in use: {first.kind} {first.environment}/{first.name}{state}{more}"


def in_scope(policy: CompiledPolicy, graph: RepositoryGraph, units: list[Digest]) -> list[Digest]:
    """Units every ordinary tag of which the policy may delete (untagged units are in scope)."""
    if policy.scope_all:
        return units
    scope = policy.scope
    return [d for d in units if all(any(p.match(t) for p in scope) for t in graph.tags.get(d, ()))]


def policy_keeps(policy: CompiledPolicy, facts: RepositoryFacts, scoped: list[Digest]) -> dict[Digest, str]:
    """Digests one policy's keep rules keep, with the first rule's reason."""
    out: dict[Digest, str] = {}
    name = policy.policy.name
    for index, rule in enumerate(policy.policy.keep):
        label = f'policy "{name}" keep[{index}]'
        if rule.tags is not None:
            found = _keep_by_tags(policy.keep_tags[index], facts.graph)
        elif rule.most_recent is not None:
            found = _keep_most_recent(rule, rule.clock or policy.policy.clock, facts, scoped)
        elif rule.semver is not None:
            found = _keep_semver(rule, facts.graph, scoped)
        else:
            found = _keep_pulled(rule, facts, scoped)
        for digest, why in found.items():
            out.setdefault(digest, f"{label} {why}")
    return out


def _keep_by_tags(patterns: Named, graph: RepositoryGraph) -> dict[Digest, str]:
    out: dict[Digest, str] = {}
    for tag_map in (graph.tags, graph.signature_tags):
        for digest, tags in tag_map.items():
            for tag in tags:
                source = first_match(patterns, tag)
                if source is not None:
                    out.setdefault(digest, f"tags: {tag!r} matches {source!r}")
                    break
    return out


def _keep_most_recent(
    rule: KeepRule, clock: ClockName, facts: RepositoryFacts, scoped: list[Digest]
) -> dict[Digest, str]:
    count = rule.most_recent or 0
    tagged = [d for d in scoped if d in facts.graph.tags]
    times = {d: facts.clocks.time(d, clock) for d in tagged}
    out = {
        d: f"most_recent={count} by {clock}: {clock} unknown{_no_data(facts, clock)}, kept"
        for d, t in times.items()
        if t is None
    }
    known = sorted((d for d, t in times.items() if t is not None), key=lambda d: (times[d], d), reverse=True)
    for rank, digest in enumerate(known[:count], start=1):
        origin = _origin(facts, digest, clock)
        out[digest] = f"most_recent={count} by {clock}: #{rank} ({_day(times[digest])}{origin})"
    return out


def semver_key(tag: str) -> tuple[int, int, int, int, str] | None:
    """Sort key of a semver-like tag (release after its pre-releases), or None if not semver."""
    match = SEMVER.match(tag)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch or 0), 0 if pre else 1, pre or "")


def _keep_semver(rule: KeepRule, graph: RepositoryGraph, scoped: list[Digest]) -> dict[Digest, str]:
    assert rule.semver is not None  # the caller dispatched on it
    per, count = rule.semver.per, rule.semver.most_recent
    lines: dict[tuple[int, ...], dict[tuple[int, int, int, int, str], list[tuple[str, Digest]]]] = {}
    for digest in scoped:
        for tag in graph.tags.get(digest, ()):
            key = semver_key(tag)
            if key is not None:
                line: tuple[int, ...] = key[:1] if per == "major" else key[:2]
                lines.setdefault(line, {}).setdefault(key, []).append((tag, digest))
    out: dict[Digest, str] = {}
    for line, versions in lines.items():
        label = ".".join(str(n) for n in line)
        for version in sorted(versions, reverse=True)[:count]:
            for tag, digest in versions[version]:
                out.setdefault(digest, f"semver: {tag!r} is among the {count} newest of {label}.x")
    return out


def _keep_pulled(rule: KeepRule, facts: RepositoryFacts, scoped: list[Digest]) -> dict[Digest, str]:
    days = rule.pulled_within_days or 0
    out: dict[Digest, str] = {}
    for digest in scoped:
        pulled = facts.clocks.time(digest, "last_pulled")
        if pulled is None:
            out[digest] = (
                f"pulled_within_days={days}: last pull unknown{_no_data(facts, 'last_pulled')}, kept"
            )
        elif age_days(facts.now, pulled) <= days:
            origin = _origin(facts, digest, "last_pulled")
            out[digest] = f"pulled_within_days={days}: pulled {_day(pulled)}{origin}"
    return out


def _origin(facts: RepositoryFacts, digest: Digest, clock: ClockName) -> str:
    """ " (ECR imagePushedAt)": where a push or pull time came from; nothing for created/first_seen."""
    if clock not in ("pushed", "last_pulled"):
        return ""
    return f" ({facts.clocks.origin(digest, clock)})"


def _no_data(facts: RepositoryFacts, clock: ClockName) -> str:
    """ " (no pull clock)": why a push or pull time is unknown (docs/policies.md, "Clocks")."""
    if clock not in ("pushed", "last_pulled") or facts.clocks.data.has(clock):
        return ""
    return " (no pull clock)" if clock == "last_pulled" else " (no push clock)"


def policy_deletes(policy: CompiledPolicy, facts: RepositoryFacts, scoped: list[Digest]) -> dict[Digest, str]:
    """Digests one policy's delete rules match, with the first rule's reason."""
    out: dict[Digest, str] = {}
    name = policy.policy.name
    for index, rule in enumerate(policy.policy.delete):
        label = f'policy "{name}" delete[{index}]'
        for digest in scoped:
            if digest in out:
                continue
            why = _delete_reason(rule, rule.clock or policy.policy.clock, facts, digest)
            if why is not None:
                out[digest] = f"{label} {why}"
    return out


def _delete_reason(rule: DeleteRule, clock: ClockName, facts: RepositoryFacts, digest: Digest) -> str | None:
    if rule.all:
        return "all: not kept by any rule"
    if rule.older_than_days is not None:
        moment = facts.clocks.time(digest, clock)
        if moment is None:
            return None  # unknown is never old
        age = age_days(facts.now, moment)
        origin = _origin(facts, digest, clock)
        return (
            f"older_than_days={rule.older_than_days} by {clock}{origin}: {_day(moment)}, {age:.0f} days"
            if (age > rule.older_than_days)
            else None
        )
    dangling = facts.dangling.get(digest)
    if dangling is None or digest in facts.graph.tags or digest in facts.graph.signature_tags:
        return None
    age = age_days(facts.now, dangling.dangling_since)
    days = rule.dangling_older_than_days or 0
    if age <= days:
        return None
    last = ", ".join(dangling.last_tags)
    return f"dangling_older_than_days={days}: untagged since {_day(dangling.dangling_since)} (was {last})"


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "unknown"
