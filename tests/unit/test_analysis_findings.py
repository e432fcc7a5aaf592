"""Findings: stale images, old latest tags, tag sprawl, dangling digests, dangling host images, usage."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.registry_strategies import NOW, fake_digest
from tests.unit.test_policy_evaluate import image, inventory
from tools.analysis.clocks import ClockData, Clocks
from tools.analysis.findings import (
    HostImage,
    find_dangling_host_images,
    find_old_latest,
    find_stale_images,
    find_tag_sprawl,
    report_dangling,
)
from tools.analysis.history import TaggedState, find_dangling
from tools.analysis.usage import describe_usage, parse_reference
from tools.inventory.models import Deployment, Descriptor, Manifest
from tools.registry.media_types import OCI_INDEX


def test_stale_images_name_their_clock_and_respect_recent_pulls() -> None:
    old, pulled, young, unknown, epoch = (
        image(n, days=d) for n, d in (("o", 200), ("p", 200), ("y", 5), ("u", None), ("e", 20000))
    )
    inv = inventory({"app": {"old": old, "pulled": pulled, "young": young, "u": unknown, "e": epoch}})
    pulls = ClockData(
        last_pulled={pulled.digest: NOW - timedelta(days=2), old.digest: NOW - timedelta(days=150)}
    )
    users = [Deployment(1, "prod", "container", "web", "x", old.digest, "running")]
    report = find_stale_images(inv, now=NOW, older_than_days=90, clock_data=pulls, deployments=users)
    assert [(i.tags, i.clock, i.age_days, i.in_use) for i in report.images] == [
        (["old"], "created", 200, True)
    ]
    assert report.images[0].last_pulled == NOW - timedelta(days=150)
    assert report.unknown_age == 2, "no created time and the 1970 reproducible-build time are unknown"
    by_first_seen = find_stale_images(inv, now=NOW, older_than_days=90, clock="first_seen")
    assert by_first_seen.images == [] and by_first_seen.unknown_age == 5


def test_old_latest_and_sprawl() -> None:
    tags = {f"build-{n}": image(f"b{n}", days=n) for n in range(60)}
    tags["latest"] = tags["build-59"]
    inv = inventory({"busy": tags, "calm": {"latest": image("calm", days=3)}})
    [latest] = find_old_latest(inv, now=NOW, older_than_days=30)
    assert (latest.repository, latest.age_days, latest.clock) == ("busy", 59, "created")
    [sprawl] = find_tag_sprawl(inv, min_tags=50)
    assert (sprawl.repository, sprawl.tags, sprawl.digests) == ("busy", 61, 60)
    assert sprawl.oldest_created == NOW - timedelta(days=59)


def test_dangling_digests_from_earlier_snapshots() -> None:
    v1, v2, child = image("v1", days=30), image("v2", days=1), image("child", days=30)
    index = Manifest(fake_digest("idx"), OCI_INDEX, 300, children=(Descriptor(child.digest, 500),))
    current = inventory({"app": {"v": v2, "multi": index}}, child)
    states = [
        TaggedState(NOW - timedelta(days=20), {"app": {"v": v1.digest, "c": child.digest}}),
        TaggedState(NOW - timedelta(days=10), {"app": {"v": v1.digest}}),
        TaggedState(NOW - timedelta(days=5), {"app": {"v": v2.digest}}),
    ]
    dangling = find_dangling(current, states, now=NOW)
    assert [(d.digest, d.last_tags, d.dangling_since) for d in dangling] == [
        (v1.digest, ("v",), NOW - timedelta(days=5))
    ]
    report = report_dangling(current, dangling, now=NOW, manifests={v1.digest: v1})
    assert report.digests[0].dangling_days == 5
    assert report.reclaimable_bytes == report.digests[0].bytes == 500 + 100 + 1_000, (
        "the base layer is shared"
    )


def test_what_regent_deleted_is_no_leftover_unless_tagged_again() -> None:
    v1, v2, v3 = image("v1", days=30), image("v2", days=1), image("v3", days=20)
    current = inventory({"app": {"v": v2}})
    states = [
        TaggedState(NOW - timedelta(days=20), {"app": {"v": v1.digest, "w": v3.digest}}),
        TaggedState(NOW - timedelta(days=10), {"app": {"v": v1.digest}}),
        TaggedState(NOW - timedelta(days=5), {"app": {"v": v2.digest}}),
    ]
    # v1 deleted by Regent after it was last seen tagged; v3 deleted before a snapshot tagged it (again)
    gone = {("app", v1.digest): NOW - timedelta(days=2), ("app", v3.digest): NOW - timedelta(days=25)}
    dangling = find_dangling(current, states, now=NOW, gone=gone)
    assert [d.digest for d in dangling] == [v3.digest]
    assert {d.digest for d in find_dangling(current, states, now=NOW)} == {v1.digest, v3.digest}


def test_dangling_host_images_are_untagged_and_unused() -> None:
    images = [
        HostImage("prod", "sha256:aa", ("<none>:<none>",), size=10),
        HostImage("prod", "sha256:bb", (), size=30),
        HostImage("prod", "sha256:cc", ("app:1",), size=50),
        HostImage("dev", "sha256:aa", (), size=10),
    ]
    users = [Deployment(1, "prod", "container", "old", "app", None, "exited", image_id="sha256:aa")]
    found = find_dangling_host_images(images, users)
    assert [(i.environment, i.image_id) for i in found] == [("prod", "sha256:bb"), ("dev", "sha256:aa")]


def test_usage_groups_deployments_per_digest() -> None:
    a = image("a", days=3)
    inv = inventory({"app": {"1.0": a, "latest": a}})
    users = [
        Deployment(1, "prod", "container", "web", "127.0.0.1:5000/app:1.0", None, "running"),
        Deployment(1, "prod", "container", "old", "127.0.0.1:5000/app:1.0", None, "exited"),
        Deployment(2, "k8s", "pod", "web-7f", f"127.0.0.1:5000/app@{a.digest}", None, "running"),
        Deployment(3, "swarm", "stack", "shop", "localhost:5000/app:latest", None),
        Deployment(3, "swarm", "service", "shop_web", "docker.io/library/app:1.0", None),
    ]
    [usage] = describe_usage(inv, users)
    assert usage.references == ["app:1.0", "app:latest"]
    assert usage.environments == ["k8s", "prod", "swarm"]
    assert (usage.running_containers, usage.stopped_containers) == (["prod/web"], ["prod/old"])
    assert (usage.pods, usage.stacks, usage.services) == (["k8s/web-7f"], ["swarm/shop"], [])


def test_parse_reference_like_docker() -> None:
    assert parse_reference("nginx") == parse_reference("docker.io/library/nginx")
    ref = parse_reference("localhost:5000/a/b:1.2@sha256:" + "0" * 64)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "a/b",
        "1.2",
        "sha256:" + "0" * 64,
    )
    assert parse_reference("registry:5000/app").host == "registry:5000"


def test_index_clocks_come_from_children() -> None:
    old, new = image("old", days=100), image("new", days=10)
    index = Manifest(
        fake_digest("i"), OCI_INDEX, 300, children=(Descriptor(old.digest, 1), Descriptor(new.digest, 1))
    )
    pulls = ClockData(last_pulled={old.digest: NOW - timedelta(days=1)}, first_seen={old.digest: NOW})
    clocks = Clocks({m.digest: m for m in (old, new, index)}, pulls)
    assert clocks.time(index.digest, "created") == NOW - timedelta(days=10)
    assert clocks.time(index.digest, "last_pulled") == NOW - timedelta(days=1)
    assert clocks.time(index.digest, "first_seen") == NOW
    assert clocks.time(index.digest, "pushed") is None
