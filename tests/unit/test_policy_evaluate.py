"""Named scenarios of policy evaluation: what stays, what goes, and why."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.unit.registry_strategies import NOW, SOURCE, fake_digest
from tools.analysis.clocks import ClockData
from tools.analysis.history import DanglingDigest, RegistryHistory
from tools.errors import ConfigError
from tools.inventory.models import Deployment, Descriptor, Manifest, RegistryInventory
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.plans import Plan
from tools.registry.media_types import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

BASE = Descriptor(fake_digest("base-layer"), 10_000)


def image(name: str, *, days: int | None, layers: tuple[Descriptor, ...] = ()) -> Manifest:
    own = Descriptor(fake_digest(f"layer-{name}"), 1_000)
    return Manifest(
        digest=fake_digest(name),
        media_type=DOCKER_MANIFEST,
        size=500,
        config=Descriptor(fake_digest(f"config-{name}"), 100),
        layers=(BASE, own, *layers),
        created=None if days is None else NOW - timedelta(days=days),
    )


def inventory(repo_tags: dict[str, dict[str, Manifest]], *extra: Manifest) -> RegistryInventory:
    manifests = {m.digest: m for tags in repo_tags.values() for m in tags.values()}
    manifests.update({m.digest: m for m in extra})
    return RegistryInventory(
        source=SOURCE,
        tags={repo: {t: m.digest for t, m in tags.items()} for repo, tags in repo_tags.items()},
        repository_digests={repo: {m.digest for m in tags.values()} for repo, tags in repo_tags.items()},
        manifests=manifests,
    )


def plan_of(
    policy_yaml: str,
    inv: RegistryInventory,
    *,
    deployments: list[Deployment] = (),  # type: ignore[assignment]
    history: RegistryHistory | None = None,
    now: datetime = NOW,
) -> Plan:
    return evaluate_policies(
        parse_policies(policy_yaml),
        registries=[inv],
        deployments=list(deployments),
        now=now,
        history={"local": history} if history else None,
        plan_id="t",
    )


DELETE_ALL = "policies:\n  - name: all\n    repositories: ['**']\n    delete: [{all: true}]\n"


def deleted(plan: Plan) -> dict[str, str]:
    return {i.digest: i.reason for i in plan.items}


def kept(plan: Plan) -> dict[str, str]:
    return {k.digest: k.reason for k in plan.kept}


def test_a_digest_with_one_kept_tag_is_kept_with_all_its_tags() -> None:
    a = image("a", days=400)
    inv = inventory({"app": {"old": a, "prod": a}})
    plan = plan_of(DELETE_ALL.replace("delete:", "keep: [{tags: [prod]}]\n    delete:"), inv)
    assert not plan.items
    assert "'prod' matches 'prod'" in kept(plan)[a.digest]


def test_in_use_digests_stay_however_they_are_referenced() -> None:
    a, b, c, d = (image(n, days=400) for n in "abcd")
    inv = inventory({"app": {"a": a, "b": b, "c": c, "d": d}})
    deployments = [
        Deployment(1, "prod", "container", "web", "127.0.0.1:5000/app:a", None, "running"),
        Deployment(1, "prod", "container", "old", "busybox", None, "exited", image_id=b.config.digest),  # type: ignore[union-attr]
        Deployment(2, "k8s", "pod", "p", f"127.0.0.1:5000/app@{c.digest}", None, "running"),
    ]
    plan = plan_of(DELETE_ALL, inv, deployments=deployments)
    assert set(deleted(plan)) == {d.digest}
    assert kept(plan)[a.digest] == "in use: container prod/web, running"
    assert kept(plan)[b.digest].startswith("in use: container prod/old, exited")


def test_a_tag_in_another_registry_host_does_not_count_as_use() -> None:
    a = image("a", days=400)
    deployments = [Deployment(1, "prod", "container", "web", "registry.example.com/app:a", None, "running")]
    plan = plan_of(DELETE_ALL, inventory({"app": {"a": a}}), deployments=deployments)
    assert set(deleted(plan)) == {a.digest}


def test_index_children_follow_the_index_unless_something_keeps_them() -> None:
    c1, c2, c3 = image("c1", days=9), image("c2", days=9), image("c3", days=9)
    kept_index = Manifest(fake_digest("i1"), OCI_INDEX, 300, children=(Descriptor(c1.digest, 500),))
    gone_index = Manifest(
        fake_digest("i2"), OCI_INDEX, 300, children=(Descriptor(c1.digest, 500), Descriptor(c2.digest, 500))
    )
    inv = inventory({"app": {"keep": kept_index, "old": gone_index, "c3": c3}}, c1, c2)
    plan = plan_of(DELETE_ALL.replace("delete:", "keep: [{tags: [keep, c3]}]\n    delete:"), inv)
    assert set(deleted(plan)) == {gone_index.digest, c2.digest}
    assert deleted(plan)[c2.digest] == f"child of deleted index {gone_index.digest}"
    assert kept(plan)[c1.digest] == f"child of kept index {kept_index.digest}"
    order = [i.digest for i in plan.items]
    assert order.index(gone_index.digest) < order.index(c2.digest), "parents are deleted before children"


def test_signatures_follow_their_subject() -> None:
    a, b = image("a", days=400), image("b", days=400)
    sig_a = Manifest(fake_digest("sig-a"), OCI_MANIFEST, 200, layers=(Descriptor(fake_digest("pa"), 50),))
    sig_b = Manifest(fake_digest("sig-b"), OCI_MANIFEST, 200, subject=b.digest)
    inv = inventory({"app": {"a": a, "b": b, f"sha256-{a.digest[7:]}.sig": sig_a}}, sig_b)
    inv.repository_digests["app"].add(sig_b.digest)
    plan = plan_of(DELETE_ALL.replace("delete:", "keep: [{tags: [b]}]\n    delete:"), inv)
    assert set(deleted(plan)) == {a.digest, sig_a.digest}
    assert deleted(plan)[sig_a.digest] == f"signature/attestation of deleted subject {a.digest}"
    assert kept(plan)[sig_b.digest] == f"signature/attestation of kept subject {b.digest}"
    sig_item = next(i for i in plan.items if i.digest == sig_a.digest)
    assert sig_item.kind == "referrer" and sig_item.deleted_with == [a.digest]
    assert sig_item.bytes == 250, "the signature's own bytes are counted"


def test_protected_tags_win_over_everything() -> None:
    a = image("a", days=400)
    text = "protected_tags: ['release-*']\n" + DELETE_ALL
    plan = plan_of(text, inventory({"app": {"release-1": a}}))
    assert not plan.items and "protected tag 'release-1'" in kept(plan)[a.digest]


def test_a_tag_outside_the_policy_scope_keeps_its_digest() -> None:
    a, b = image("a", days=400), image("b", days=400)
    text = DELETE_ALL.replace("delete:", "tags: ['ci-*']\n    delete:")
    plan = plan_of(text, inventory({"app": {"ci-1": a, "ci-2": b, "release": b}}))
    assert set(deleted(plan)) == {a.digest}
    assert kept(plan)[b.digest] == "no delete rule matched"


def test_most_recent_ranks_by_the_chosen_clock_and_unknown_is_never_old() -> None:
    old, mid, new, unknown, epoch = (
        image(n, days=d) for n, d in (("o", 300), ("m", 200), ("n", 100), ("u", None), ("e", 20000))
    )
    inv = inventory({"app": {"o": old, "m": mid, "n": new, "u": unknown, "e": epoch}})
    text = DELETE_ALL.replace("delete:", "keep: [{most_recent: 2}]\n    delete:")
    plan = plan_of(text, inv)
    assert set(deleted(plan)) == {old.digest}
    assert "created unknown, kept" in kept(plan)[epoch.digest], "1970 from a reproducible build is unknown"
    by_first_seen = ClockData(first_seen={old.digest: NOW, mid.digest: NOW - timedelta(days=5)})
    text = DELETE_ALL.replace(
        "delete: [{all: true}]",
        "keep: [{most_recent: 1, clock: first_seen}]\n    delete: [{older_than_days: 1, clock: first_seen}]",
    )
    plan = plan_of(text, inv, history=RegistryHistory(clocks=by_first_seen))
    assert set(deleted(plan)) == {mid.digest}, "old was first seen now; the rest are unknown, so never old"
    by_first_seen = ClockData(first_seen={d: NOW - timedelta(days=i) for i, d in enumerate(inv.manifests)})
    plan = plan_of(text, inv, history=RegistryHistory(clocks=by_first_seen))
    assert len(plan.items) == 3


def test_older_than_does_not_touch_unknown_ages_or_young_images() -> None:
    young, old, unknown = image("y", days=10), image("o", days=100), image("u", days=None)
    text = DELETE_ALL.replace("{all: true}", "{older_than_days: 90}")
    plan = plan_of(text, inventory({"app": {"y": young, "o": old, "u": unknown}}))
    assert set(deleted(plan)) == {old.digest}
    assert "older_than_days=90 by created" in deleted(plan)[old.digest]


def test_semver_keeps_the_newest_per_minor() -> None:
    versions = ["v1.0.0", "v1.0.1", "v1.0.2", "v1.1.0", "1.1.1-rc1", "v2.0.0", "latest"]
    images = {v: image(v, days=400) for v in versions}
    text = DELETE_ALL.replace("delete:", "keep: [{semver: {per: minor, most_recent: 2}}]\n    delete:")
    plan = plan_of(text, inventory({"app": images}))
    assert sorted(i.tags[0] for i in plan.items) == ["latest", "v1.0.0"]


def test_pulled_within_keeps_recent_pulls_and_unknown_pulls() -> None:
    a, b, c = image("a", days=400), image("b", days=400), image("c", days=400)
    pulls = ClockData(last_pulled={a.digest: NOW - timedelta(days=3), b.digest: NOW - timedelta(days=90)})
    text = DELETE_ALL.replace("delete:", "keep: [{pulled_within_days: 30}]\n    delete:")
    plan = plan_of(text, inventory({"app": {"a": a, "b": b, "c": c}}), history=RegistryHistory(clocks=pulls))
    assert set(deleted(plan)) == {b.digest}
    assert "last pull unknown, kept" in kept(plan)[c.digest]


def test_dangling_digests_go_after_the_grace_period() -> None:
    tagged, fresh, stale = image("t", days=1), image("f", days=1), image("s", days=1)
    inv = inventory({"app": {"t": tagged}}, fresh, stale)
    dangling = [
        DanglingDigest("app", fresh.digest, ("v1",), NOW - timedelta(days=3), NOW - timedelta(days=2)),
        DanglingDigest("app", stale.digest, ("v0",), NOW - timedelta(days=50), NOW - timedelta(days=40)),
    ]
    text = DELETE_ALL.replace("{all: true}", "{dangling_older_than_days: 30}")
    plan = plan_of(text, inv, history=RegistryHistory(dangling=dangling))
    assert set(deleted(plan)) == {stale.digest}
    assert "untagged since" in deleted(plan)[stale.digest] and "(was v0)" in deleted(plan)[stale.digest]


def test_keep_rules_of_other_policies_still_apply() -> None:
    a = image("a", days=400)
    text = DELETE_ALL + "  - name: guard\n    repositories: ['app']\n    keep: [{tags: ['a']}]\n"
    plan = evaluate_policies(
        parse_policies(text),
        registries=[inventory({"app": {"a": a}})],
        deployments=[],
        now=NOW,
        names=["all"],
    )
    assert not plan.items and plan.policies == ["all"]
    with pytest.raises(ConfigError, match="unknown policy 'nope'"):
        evaluate_policies(parse_policies(text), registries=[], deployments=[], now=NOW, names=["nope"])


def test_shared_layers_count_once_and_only_when_nothing_surviving_uses_them() -> None:
    shared = Descriptor(fake_digest("shared"), 7_000)
    a, b, c = (
        image("a", days=400, layers=(shared,)),
        image("b", days=400, layers=(shared,)),
        image("c", days=1),
    )
    inv = inventory({"app": {"a": a, "b": b}, "other": {"c": c}})
    plan = plan_of(DELETE_ALL.replace("'**'", "app"), inv)
    own = 500 + 100 + 1_000
    assert plan.reclaimable_bytes == 2 * own + 7_000, "the base layer survives in 'other'; 'shared' goes once"
    assert [i.bytes for i in plan.items] == [own, own] and plan.shared_bytes == 7_000


def test_a_partial_crawl_is_not_planned() -> None:
    inv = inventory({"app": {"a": image("a", days=400)}})
    inv.partial, inv.errors = True, ["tags/list app: 500"]
    plan = plan_of(DELETE_ALL, inv)
    assert not plan.items and "partial" in plan.warnings[0]


def test_the_same_inputs_give_the_same_items_hash() -> None:
    inv = inventory({"app": {"a": image("a", days=400), "b": image("b", days=1)}})
    first, second = plan_of(DELETE_ALL, inv), plan_of(DELETE_ALL, inv)
    assert first.items_hash == second.items_hash and first.verify_hash()
    tampered = first.model_copy(update={"items": first.items[:0]})
    assert not tampered.verify_hash()
