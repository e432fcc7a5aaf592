"""Policy drift and new images on hand-made inventories: latest in production, signatures, size jumps."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from tools.analysis.changes import image_bytes, new_images
from tools.analysis.clocks import ClockData
from tools.inventory.models import Deployment, Descriptor, Manifest, RegistryInventory, RegistrySource
from tools.policy.drift import latest_in_production, size_anomalies, unsigned_images

MIB = 1024**2
DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
OCI = "application/vnd.oci.image.manifest.v1+json"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def image(name: str, *, size: int, day: int | None, subject: str | None = None, kind: str = "") -> Manifest:
    return Manifest(
        digest=digest(name),
        media_type=OCI,
        size=100,
        config=Descriptor(digest(f"{name}-config"), 50),
        layers=(Descriptor(digest("shared-base"), MIB), Descriptor(digest(f"{name}-layer"), size)),
        subject=subject,
        artifact_type=kind,
        created=DAY0 + timedelta(days=day) if day is not None else None,
    )


def inventory(
    tags: dict[str, dict[str, Manifest]], untagged: dict[str, list[Manifest]] | None = None
) -> RegistryInventory:
    manifests = {m.digest: m for repo in tags.values() for m in repo.values()}
    manifests |= {m.digest: m for repo in (untagged or {}).values() for m in repo}
    return RegistryInventory(
        source=RegistrySource(name="reg", url="http://reg.example:5000"),
        tags={repo: {tag: m.digest for tag, m in items.items()} for repo, items in tags.items()},
        repository_digests={
            repo: {m.digest for m in items.values()} | {m.digest for m in (untagged or {}).get(repo, [])}
            for repo, items in tags.items()
        },
        manifests=manifests,
    )


def deployment(
    environment: str, image_ref: str, *, state: str = "running", kind: str = "container"
) -> Deployment:
    return Deployment(1, environment, kind, f"{environment}-app", image_ref, None, state)  # type: ignore[arg-type]


def test_latest_in_production_only_counts_floating_running_references() -> None:
    pinned = "reg.example:5000/shop/api:latest@" + digest("x")
    found = latest_in_production(
        [
            deployment("prod-eu", "reg.example:5000/shop/api:latest"),
            deployment("prod-eu", "reg.example:5000/shop/web", kind="stack", state=""),
            deployment("prod-eu", pinned),
            deployment("prod-eu", "reg.example:5000/shop/api:1.4.0"),
            deployment("prod-us", "nginx:latest", state="exited"),
            deployment("staging", "reg.example:5000/shop/api:latest"),
        ],
        production=["prod-*"],
    )
    assert [(f.environment, f.image, f.explicit) for f in found] == [
        ("prod-eu", "reg.example:5000/shop/api:latest", True),
        ("prod-eu", "reg.example:5000/shop/web", False),
    ]
    assert latest_in_production([deployment("prod-eu", "nginx")], production=[]) == []


def test_unsigned_images_accept_cosign_tags_and_oci_signature_referrers() -> None:
    cosigned, referred, bare = (image(n, size=MIB, day=1) for n in ("cosigned", "referred", "bare"))
    signature = image("sig", size=10, day=None)
    notary = image(
        "notary", size=10, day=None, subject=referred.digest, kind="application/vnd.cncf.notary.signature"
    )
    sbom = image("sbom", size=10, day=None, subject=bare.digest, kind="application/spdx+json")
    cosign_tag = "sha256-" + cosigned.digest.removeprefix("sha256:") + ".sig"
    inv = inventory(
        {
            "shop/api": {"1.0": cosigned, "1.1": referred, "1.2": bare, cosign_tag: signature},
            "other/tool": {"1.0": image("tool", size=MIB, day=1)},
        },
        untagged={"shop/api": [notary, sbom]},
    )
    found = unsigned_images(inv, requires_signature=lambda repository: repository.startswith("shop/"))
    assert [(u.repository, u.tags) for u in found] == [("shop/api", ("1.2",))]  # an SBOM is no signature


def test_size_anomaly_compares_the_newest_image_with_the_one_before() -> None:
    inv = inventory(
        {
            "app/grew": {
                "1.0": image("g1", size=8 * MIB, day=1),
                "1.1": image("g2", size=10 * MIB, day=2),
                "1.2": image("g3", size=40 * MIB, day=3),
            },
            "app/steady": {"1.0": image("s1", size=8 * MIB, day=1), "1.1": image("s2", size=9 * MIB, day=2)},
            "app/tiny": {"1.0": image("t1", size=10, day=1), "1.1": image("t2", size=90_000, day=2)},
        }
    )
    (found,) = size_anomalies(inv, ClockData(), ratio=3.0, min_increase=MIB)  # app/tiny: 3x, under 1 MiB
    assert (found.repository, found.tags, found.previous_tags, found.clock) == (
        "app/grew",
        ("1.2",),
        ("1.1",),
        "created",
    )
    assert found.bytes == image_bytes(inv.manifests[digest("g3")], inv.manifests)
    assert found.ratio == found.bytes / found.previous_bytes > 3


def test_size_anomaly_falls_back_to_first_seen_when_a_build_time_is_unknown() -> None:
    old, new = image("r1", size=MIB, day=None), image("r2", size=30 * MIB, day=5)
    inv = inventory({"app/reproducible": {"old": old, "new": new}})
    seen = ClockData(first_seen={old.digest: DAY0, new.digest: DAY0 + timedelta(days=1)})
    (found,) = size_anomalies(inv, seen, ratio=3.0, min_increase=MIB)
    assert (found.tags, found.clock) == (("new",), "first_seen")


def test_new_images_are_the_tagged_digests_first_seen_after_the_moment() -> None:
    a, b = image("a", size=MIB, day=1), image("b", size=2 * MIB, day=2)
    inv = inventory({"app/x": {"1": a, "2": b, "latest": b}})
    first_seen = {a.digest: DAY0, b.digest: DAY0 + timedelta(days=2)}
    (found,) = new_images(inv, first_seen, since=DAY0 + timedelta(days=1))
    assert (found.repository, found.tags, found.clock) == ("app/x", ("2", "latest"), "first_seen")
    # manifest, config, the shared base layer and its own layer: each once
    assert found.bytes == 100 + 50 + MIB + 2 * MIB
