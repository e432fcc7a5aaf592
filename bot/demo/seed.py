"""Synthetic registry content for tests, the demo and benchmarks: the Seeder plus two ready data sets.

`seed_sample` is a small, realistic registry (teams, stale and fresh tags, shared bases, multi-arch,
a signature, untagged leftovers); `seed_bulk` is many small images for benchmarks. Both are
deterministic given their arguments, and the Seeder's `expected()` says what a crawl must find.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor

from bot.demo.images import (
    BaseImage,
    ImageSpec,
    ManifestKind,
    busybox_available,
    rfc3339,
)
from bot.demo.seeder import (
    BearerAuth,
    BlobRef,
    PushedImage,
    PushedIndex,
    Seeder,
    SeedSummary,
)
from bot.errors import SeedError

__all__ = [
    "ALPINE_3_19_0",
    "ALPINE_3_19_1",
    "BULK_NOW",
    "DEBIAN_12",
    "BaseImage",
    "BearerAuth",
    "BlobRef",
    "ImageSpec",
    "ManifestKind",
    "PushedImage",
    "PushedIndex",
    "SeedError",
    "SeedSummary",
    "Seeder",
    "bulk_repository",
    "seed_bulk",
    "seed_sample",
]

# One base on two patch versions (they share the rootfs layer) and one unrelated base.
ALPINE_3_19_0 = BaseImage(
    "docker.io/library/alpine:3.19.0", ("alpine-3.19-rootfs", "alpine-3.19.0-apk"), 48 * 1024
)
ALPINE_3_19_1 = BaseImage(
    "docker.io/library/alpine:3.19.1", ("alpine-3.19-rootfs", "alpine-3.19.1-apk"), 48 * 1024
)
DEBIAN_12 = BaseImage(
    "docker.io/library/debian:12-slim", ("debian-12-rootfs", "debian-12-ca-certificates"), 96 * 1024
)
_BASE_NAME = "org.opencontainers.image.base.name"


def _labels(repository: str, version: str, created: dt.datetime) -> dict[str, str]:
    revision = hashlib.sha1(f"{repository}@{version}".encode(), usedforsecurity=False).hexdigest()
    return {
        "org.opencontainers.image.title": repository.rsplit("/", 1)[-1],
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.created": rfc3339(created),
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": f"https://git.example.com/{repository}",
        "org.opencontainers.image.vendor": repository.split("/", 1)[0],
    }


class _Sample:
    """Builds the sample's specs: labels, base annotation and the layer salt filled in."""

    def __init__(self, *, now: dt.datetime, salt: str, runnable: bool) -> None:
        self._now, self._salt, self._runnable = now, salt, runnable

    def spec(
        self,
        repository: str,
        tag: str | None,
        days: float,
        base: BaseImage,
        *,
        kind: ManifestKind = "docker",
        runs: bool = False,
        annotate: bool = False,
        extra: str = "",
        layer_size: int = 24 * 1024,
        own_layers: int = 1,
    ) -> ImageSpec:
        """One sample image created `days` before now."""
        created = self._now - dt.timedelta(days=days)
        return ImageSpec(
            repository=repository,
            tag=tag,
            created=created,
            labels=_labels(repository, tag or "untagged", created),
            annotations={_BASE_NAME: base.name} if annotate else {},
            base=base,
            media_type=kind,
            runnable=runs and self._runnable,
            extra_layer_seed=f"{self._salt}{extra}",
            layer_size=layer_size,
            own_layers=own_layers,
        )


def seed_sample(seeder: Seeder, *, now: dt.datetime, seed: int = 0, runnable: bool | None = None) -> None:
    """Push the demo registry: 6 teams' repositories, stale and fresh tags, all four manifest types."""
    sample = _Sample(
        now=now, salt=f"sample-{seed}", runnable=busybox_available() if runnable is None else runnable
    )
    _seed_shop(seeder, sample)
    _seed_team_x(seeder, sample)
    image = sample.spec
    for spec in (
        image("data/etl", "0.1.0", 395, ALPINE_3_19_0),
        image("data/etl", "0.2.0", 365, ALPINE_3_19_0, layer_size=64 * 1024),
    ):
        last = seeder.push_image(spec)
    seeder.tag("data/etl", last.digest, "latest")
    for spec in (
        image("platform/base", "alpine-3.19.0", 400, ALPINE_3_19_0, kind="oci", own_layers=0),
        image("platform/base", "alpine-3.19.1", 8, ALPINE_3_19_1, kind="oci", own_layers=0),
        image("platform/base", "debian-12", 6, DEBIAN_12, kind="oci", own_layers=0),
    ):
        seeder.push_image(spec)


def _seed_shop(seeder: Seeder, sample: _Sample) -> None:
    image = sample.spec
    for spec in (
        image("shop/api", "1.2.0", 380, ALPINE_3_19_0),
        image("shop/api", "1.2.1", 330, ALPINE_3_19_0),
        image("shop/api", "1.3.0", 215, ALPINE_3_19_0),
        # A first 1.4.0 build, overwritten below: it stays in the registry untagged.
        image("shop/api", "1.4.0", 9, ALPINE_3_19_1, extra="-build1"),
    ):
        seeder.push_image(spec)
    api = seeder.push_image(image("shop/api", "1.4.0", 4, ALPINE_3_19_1, runs=True, own_layers=2))
    seeder.tag("shop/api", api.digest, "latest")
    seeder.push_signature("shop/api", api.digest)

    for spec in (
        image("shop/web", "2.0.0", 260, DEBIAN_12, kind="oci", annotate=True),
        image("shop/web", "2.0.1", 240, DEBIAN_12, kind="oci", annotate=True),
    ):
        seeder.push_image(spec)
    web = seeder.push_image(image("shop/web", "2.1.0", 3, DEBIAN_12, kind="oci", annotate=True, runs=True))
    seeder.tag("shop/web", web.digest, "latest")


def _seed_team_x(seeder: Seeder, sample: _Sample) -> None:
    image = sample.spec
    seeder.push_image(image("team-x/worker", "0.9.0", 300, ALPINE_3_19_0))
    # The busybox layer is amd64, so only the amd64 child is runnable.
    amd64 = image("team-x/worker", None, 2, ALPINE_3_19_1, kind="oci", annotate=True, runs=True)
    arm64 = image("team-x/worker", None, 2, ALPINE_3_19_1, kind="oci", annotate=True)
    arm64.platform = ("linux", "arm64")
    worker = seeder.push_index("team-x/worker", "1.0.0", [amd64, arm64], media_type="oci")
    seeder.tag("team-x/worker", worker.digest, "latest")

    for days in (400, 370, 340, 310, 280):
        stamp = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=days)).strftime("%Y%m%d")
        seeder.push_image(image("team-x/batch", f"nightly-{stamp}", days, DEBIAN_12, layer_size=8192))
    batch_amd64 = image("team-x/batch", None, 7, DEBIAN_12, runs=True)
    batch_arm64 = image("team-x/batch", None, 7, DEBIAN_12)
    batch_arm64.platform = ("linux", "arm64")
    seeder.push_index("team-x/batch", "2.0", [batch_amd64, batch_arm64], media_type="docker")


# -- bulk seeding for benchmarks --------------------------------------------------------------------

BULK_NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
_BULK_BASES = (
    BaseImage("bench.example/base-a:1", ("bulk-a-0", "bulk-a-1"), 1024),
    BaseImage("bench.example/base-b:1", ("bulk-b-0", "bulk-b-1"), 1024),
)


def bulk_repository(index: int) -> str:
    """Name of the `index`-th repository seed_bulk creates."""
    return f"team{index % 10}/app{index:04d}"


def seed_bulk(
    seeder: Seeder,
    *,
    repositories: int,
    tags_per_repository: int,
    threads: int = 4,
    now: dt.datetime = BULK_NOW,
    layer_size: int = 1024,
) -> None:
    """Push repositories x tags docker images (tags v0..vN-1) on two shared bases, in parallel."""

    def push_repository(index: int) -> None:
        repository = bulk_repository(index)
        for number in range(tags_per_repository):
            age = (index * 7 + number * 37) % 400
            spec = ImageSpec(
                repository=repository,
                tag=f"v{number}",
                created=now - dt.timedelta(days=age, minutes=index),
                labels={"org.opencontainers.image.version": f"v{number}"},
                base=_BULK_BASES[index % len(_BULK_BASES)],
                layer_size=layer_size,
            )
            seeder.push_image(spec)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        # list() re-raises the first failure instead of dropping it.
        list(pool.map(push_repository, range(repositories)))
