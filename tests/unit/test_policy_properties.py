"""Property tests: over random registries and random policies no plan breaks invariant 2, and the bytes
a plan reports equal what a simulated garbage collection frees (invariant 8).

The oracle below is written from the design text, not from the engine: it recomputes usage, tags, index
children and signature subjects from the raw inventory.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import HealthCheck, given, settings

from tests.unit.registry_strategies import HOST, NOW, World, policy_files, worlds
from tools.analysis.clocks import Clocks
from tools.inventory.models import Manifest
from tools.policy.evaluate import evaluate_policies
from tools.policy.model import PolicyFile
from tools.policy.patterns import compile_pattern
from tools.policy.plans import Plan

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plan(world: World, policies: PolicyFile) -> Plan:
    return evaluate_policies(
        policies,
        registries=[world.inventory],
        deployments=world.deployments,
        now=NOW,
        history={"local": world.history},
        plan_id="test",
    )


def _stored(world: World) -> dict[str, set[str]]:
    """Every revision per repository: listed, tagged, dangling, and children of stored indexes."""
    inv = world.inventory
    out: dict[str, set[str]] = {}
    for repo in set(inv.tags) | set(inv.repository_digests):
        digests = set(inv.repository_digests.get(repo, set())) | set(inv.tags.get(repo, {}).values())
        for digest in list(digests):
            digests.update(c.digest for c in inv.manifests[digest].children)
        out[repo] = digests
    return out


def _in_use(world: World) -> set[str]:
    inv = world.inventory
    used: set[str] = set()
    for dep in world.deployments:
        if dep.digest:
            used.add(dep.digest)
        if "@" in dep.image:
            used.add(dep.image.split("@", 1)[1])
        elif dep.image.startswith(f"{HOST}/"):
            repo, _, tag = dep.image[len(HOST) + 1 :].rpartition(":")
            if tag in inv.tags.get(repo, {}):
                used.add(inv.tags[repo][tag])
        if dep.image_id:
            used.update(
                m.digest for m in inv.manifests.values() if m.config and m.config.digest == dep.image_id
            )
    return used


def _subjects(world: World, repo: str, digest: str, stored: set[str]) -> set[str]:
    found = {
        f"sha256:{t[7:71]}"
        for t, d in world.inventory.tags.get(repo, {}).items()
        if d == digest and t.startswith("sha256-")
    }
    subject = world.inventory.manifests[digest].subject
    if subject:
        found.add(subject)
    return found & stored


def _ordinary_tags(world: World, repo: str, digest: str) -> list[str]:
    return [
        t
        for t, d in world.inventory.tags.get(repo, {}).items()
        if d == digest and not t.startswith("sha256-")
    ]


def _matches(patterns: Iterable[str], name: str) -> bool:
    return any(compile_pattern(p).match(name) for p in patterns)


def _applying(policies: PolicyFile, repo: str) -> list:
    return [p for p in policies.policies if _matches(p.repositories, repo)]


def _hard_kept(world: World, policies: PolicyFile, repo: str, digest: str, used: set[str]) -> bool:
    tags = [t for t, d in world.inventory.tags.get(repo, {}).items() if d == digest]
    keep_patterns = [p for pol in _applying(policies, repo) for r in pol.keep for p in (r.tags or ())]
    return digest in used or any(
        _matches(policies.protected_tags, t) or _matches(keep_patterns, t) for t in tags
    )


@SETTINGS
@given(world=worlds(), policies=policy_files())
def test_no_plan_contains_a_digest_that_must_stay(world: World, policies: PolicyFile) -> None:
    plan = _plan(world, policies)
    stored, used = _stored(world), _in_use(world)
    planned = {(i.repository, i.digest) for i in plan.items}
    assert len(planned) == len(plan.items)
    for item in plan.items:
        repo, digest = item.repository, item.digest
        assert digest not in used, f"in use: {item}"
        tags_now = {t for t, d in world.inventory.tags.get(repo, {}).items() if d == digest}
        assert set(item.tags) == tags_now, "every tag the DELETE removes is listed"
        assert not _hard_kept(world, policies, repo, digest, used), f"protected or kept tag: {item}"
        for other in stored[repo]:
            if any(c.digest == digest for c in world.inventory.manifests[other].children):
                assert (repo, other) in planned, f"child of a kept index: {item}"
        for subject in _subjects(world, repo, digest, stored[repo]):
            assert (repo, subject) in planned, f"signature outlives nothing: subject kept but {item}"
    _check_most_recent(world, policies, plan)


def _check_most_recent(world: World, policies: PolicyFile, plan: Plan) -> None:
    clocks = Clocks(world.inventory.manifests, world.history.clocks)
    planned = {(i.repository, i.digest) for i in plan.items}
    for repo, digests in _stored(world).items():
        for policy in _applying(policies, repo):
            for rule in policy.keep:
                if rule.most_recent is None:
                    continue
                clock = rule.clock or policy.clock
                tagged = [
                    d
                    for d in digests
                    if _ordinary_tags(world, repo, d)
                    and all(_matches(policy.tags, t) for t in _ordinary_tags(world, repo, d))
                    and not (_subjects(world, repo, d, digests) and not _ordinary_tags(world, repo, d))
                ]
                known = sorted(
                    (d for d in tagged if clocks.time(d, clock)), key=lambda d: (clocks.time(d, clock), d)
                )
                must_stay = set(known[-rule.most_recent :]) | {
                    d for d in tagged if clocks.time(d, clock) is None
                }
                assert not {(repo, d) for d in must_stay} & planned, (
                    f"most_recent={rule.most_recent} by {clock}"
                )


@SETTINGS
@given(world=worlds(), policies=policy_files())
def test_dependents_follow_their_owners(world: World, policies: PolicyFile) -> None:
    plan = _plan(world, policies)
    stored, used = _stored(world), _in_use(world)
    planned = {(i.repository, i.digest) for i in plan.items}
    for repo, digests in stored.items():
        if not any(policy.name in plan.policies for policy in _applying(policies, repo)):
            continue
        for digest in digests:
            if _ordinary_tags(world, repo, digest) or _hard_kept(world, policies, repo, digest, used):
                continue
            parents = {
                p for p in digests if any(c.digest == digest for c in world.inventory.manifests[p].children)
            }
            owners = parents | _subjects(world, repo, digest, digests)
            if owners and all((repo, o) in planned for o in owners):
                assert (repo, digest) in planned, f"{digest} should go with its deleted owners {owners}"


@SETTINGS
@given(world=worlds(), policies=policy_files())
def test_every_scoped_digest_is_planned_or_kept_once(world: World, policies: PolicyFile) -> None:
    plan = _plan(world, policies)
    planned = [(i.repository, i.digest) for i in plan.items]
    kept = [(k.repository, k.digest) for k in plan.kept]
    assert not set(planned) & set(kept)
    assert len(set(kept)) == len(kept)
    for repo, digests in _stored(world).items():
        decided = {d for r, d in planned + kept if r == repo}
        assert decided in (set(), digests)
    assert plan.verify_hash()


def _references(manifest: Manifest) -> dict[str, int]:
    refs = {manifest.digest: manifest.size}
    if manifest.config:
        refs[manifest.config.digest] = manifest.config.size
    refs.update({layer.digest: layer.size for layer in manifest.layers})
    refs.update({child.digest: child.size for child in manifest.children})
    return refs


def _marked(world: World, revisions: set[tuple[str, str]]) -> dict[str, int]:
    """What distribution's mark phase marks: each revision's manifest, config, layers, index children."""
    marked: dict[str, int] = {}
    for _, digest in revisions:
        marked.update(_references(world.inventory.manifests[digest]))
    return marked


@SETTINGS
@given(world=worlds(), policies=policy_files())
def test_reported_bytes_equal_a_simulated_garbage_collection(world: World, policies: PolicyFile) -> None:
    plan = _plan(world, policies)
    before = {(repo, d) for repo, ds in _stored(world).items() for d in ds}
    after = before - {(i.repository, i.digest) for i in plan.items}
    marked_before, marked_after = _marked(world, before), _marked(world, after)
    freed = sum(size for blob, size in marked_before.items() if blob not in marked_after)
    assert plan.reclaimable_bytes == freed
    assert sum(i.bytes for i in plan.items) + plan.shared_bytes == plan.reclaimable_bytes
    for item in plan.items:
        alone = _marked(world, before - {(item.repository, item.digest)})
        assert item.bytes == sum(size for blob, size in marked_before.items() if blob not in alone)


@SETTINGS
@given(world=worlds(), policies=policy_files())
def test_simulated_execution_leaves_what_must_stay(world: World, policies: PolicyFile) -> None:
    plan = _plan(world, policies)
    stored = {repo: set(ds) for repo, ds in _stored(world).items()}
    tags = {repo: dict(ts) for repo, ts in world.inventory.tags.items()}
    for item in plan.items:  # DELETE by digest: the revision and every tag on it go
        stored[item.repository].discard(item.digest)
        tags[item.repository] = {t: d for t, d in tags[item.repository].items() if d != item.digest}
    used = _in_use(world)
    for repo, digests in _stored(world).items():
        for digest in digests & used:
            assert digest in stored[repo]
        for digest in stored[repo]:
            for child in world.inventory.manifests[digest].children:
                assert child.digest in stored[repo], "a surviving index lost a child"
        for tag, digest in world.inventory.tags.get(repo, {}).items():
            if _matches(policies.protected_tags, tag):
                assert tags[repo].get(tag) == digest
