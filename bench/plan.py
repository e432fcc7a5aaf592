"""Analysis and planning benchmark on synthetic inventories (10,000 to 100,000 tags, in memory).

    .venv/bin/python bench/plan.py [--tags 10000,25000,50000,100000] [--tags-per-repo 50] [--no-memory]

The inventory looks like a busy registry: ~50 tags per repository, digests with several tags (`latest`,
`stable`), multi-arch indexes, cosign signatures, 20 shared base images, deployments using 2 % of the
digests (pinned or by tag). For each size it prints the time to analyse (stale, latest, sprawl, usage,
shared layers, duplicate content, base detection) and to plan (evaluate + items hash + JSON), the
tracemalloc peak of a second, traced run, and how time grows from the smallest size to the largest.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.analysis.findings import find_old_latest, find_stale_images, find_tag_sprawl
from tools.analysis.layers import (
    detect_base_images,
    duplicate_content,
    shared_layers,
    suggest_consolidation,
)
from tools.analysis.usage import describe_usage
from tools.inventory.models import (
    Deployment,
    Descriptor,
    Manifest,
    RegistryInventory,
    RegistrySource,
)
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.registry.media_types import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOST = "registry.example.com"
POLICIES = """
protected_tags: [prod, stable]
policies:
  - name: teams
    repositories: ["team*/**"]
    keep:
      - most_recent: 10
      - semver: {per: minor, most_recent: 2}
      - tags: ["release-*"]
    delete:
      - older_than_days: 90
  - name: sandbox
    repositories: ["sandbox/**"]
    keep:
      - most_recent: 3
    delete:
      - all: true
"""


def digest(text: str) -> str:
    """A sha256 digest of text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class Synth:
    """Builds a synthetic registry inventory deterministically."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.manifests: dict[str, Manifest] = {}
        self.bases = [
            tuple(Descriptor(digest(f"base{b}-{i}"), self.rng.randint(2, 40) * 1024 * 1024) for i in range(3))
            for b in range(20)
        ]
        self.count = 0

    def image(self, *, platform: str = "amd64") -> Manifest:
        self.count += 1
        n = self.count
        base = self.rng.choice(self.bases)
        own = tuple(
            Descriptor(digest(f"own{n}-{i}"), self.rng.randint(1, 50) * 100_000)
            for i in range(self.rng.randint(1, 3))
        )
        layers = base + own
        manifest = Manifest(
            digest=digest(f"image{n}"),
            media_type=DOCKER_MANIFEST,
            size=self.rng.randint(500, 2000),
            config=Descriptor(digest(f"config{n}"), 1500),
            layers=layers,
            diff_ids=tuple(digest(f"diff-{d.digest}") for d in layers),
            created=NOW - timedelta(days=self.rng.randint(0, 720), minutes=n % 1440),
        )
        self.manifests[manifest.digest] = manifest
        return manifest

    def index(self) -> Manifest:
        children = [self.image(), self.image(platform="arm64")]
        self.count += 1
        manifest = Manifest(
            digest=digest(f"index{self.count}"),
            media_type=OCI_INDEX,
            size=700,
            children=tuple(Descriptor(c.digest, c.size, c.media_type) for c in children),
        )
        self.manifests[manifest.digest] = manifest
        return manifest

    def signature(self, subject: str) -> Manifest:
        manifest = Manifest(
            digest=digest(f"sig-{subject}"),
            media_type=OCI_MANIFEST,
            size=600,
            config=Descriptor(digest("cosign-config"), 233),
            layers=(Descriptor(digest(f"sigpayload-{subject}"), 250),),
        )
        self.manifests[manifest.digest] = manifest
        return manifest

    def repository(self, tags_wanted: int) -> tuple[dict[str, str], set[str]]:
        tags: dict[str, str] = {}
        digests: set[str] = set()
        number = 0
        while len(tags) < tags_wanted:
            top = self.index() if self.rng.random() < 0.05 else self.image()
            digests.add(top.digest)
            tags[f"1.{number // 10}.{number % 10}"] = top.digest
            number += 1
            if self.rng.random() < 0.05:
                sig = self.signature(top.digest)
                digests.add(sig.digest)
                tags[f"sha256-{top.digest[7:]}.sig"] = sig.digest
        newest = tags[f"1.{(number - 1) // 10}.{(number - 1) % 10}"]
        tags["latest"] = tags["stable"] = newest
        while len(tags) > tags_wanted:
            tags.pop(next(t for t in tags if t not in ("latest", "stable")))
        digests = set(tags.values())
        for d in list(digests):
            digests.update(c.digest for c in self.manifests[d].children)
        return tags, digests


def build(total_tags: int, per_repo: int, seed: int = 7) -> tuple[RegistryInventory, list[Deployment]]:
    """A synthetic inventory with total_tags tags and deployments using ~2 % of its digests."""
    synth = Synth(seed)
    inventory = RegistryInventory(source=RegistrySource(name="bench", url=f"https://{HOST}"))
    repos = max(1, total_tags // per_repo)
    for r in range(repos):
        name = f"sandbox/app{r:05d}" if r % 10 == 9 else f"team{r % 9}/app{r:05d}"
        tags, digests = synth.repository(per_repo if r < repos - 1 else total_tags - per_repo * (repos - 1))
        inventory.tags[name] = tags
        inventory.repository_digests[name] = digests
    inventory.manifests = synth.manifests
    deployments = []
    rng = random.Random(seed + 1)
    for n, (repo, tags) in enumerate(inventory.tags.items()):
        for tag, d in tags.items():
            if rng.random() < 0.02:
                pinned = rng.random() < 0.5
                deployments.append(
                    Deployment(
                        n % 7,
                        f"env{n % 7}",
                        "container",
                        f"c{n}-{tag}",
                        f"{HOST}/{repo}:{tag}",
                        d if pinned else None,
                        "running",
                    )
                )
    return inventory, deployments


def analyse(inventory: RegistryInventory, deployments: list[Deployment]) -> dict[str, int]:
    """Every registry-wide analysis once; returns result sizes so nothing is optimised away."""
    stale = find_stale_images(inventory, now=NOW, older_than_days=180, deployments=deployments)
    bases = detect_base_images(inventory)
    return {
        "stale": len(stale.images),
        "old_latest": len(find_old_latest(inventory, now=NOW, older_than_days=90)),
        "sprawl": len(find_tag_sprawl(inventory, min_tags=40)),
        "in_use": len(describe_usage(inventory, deployments)),
        "shared_layers": len(shared_layers(inventory).layers),
        "duplicates": len(duplicate_content(inventory)),
        "bases": len(bases),
        "consolidations": len(suggest_consolidation(bases)),
    }


def plan(inventory: RegistryInventory, deployments: list[Deployment]) -> dict[str, int]:
    """Evaluate the policies and serialise the plan as it would be stored."""
    result = evaluate_policies(
        parse_policies(POLICIES), registries=[inventory], deployments=deployments, now=NOW
    )
    body = result.model_dump_json()
    return {
        "items": len(result.items),
        "kept": len(result.kept),
        "json_bytes": len(body),
        "bytes": result.reclaimable_bytes,
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(size: int, per_repo: int, *, memory: bool) -> tuple[float, float]:
    """Build, analyse and plan one size; print its row; return (analyse s, plan s)."""
    build_s, (inventory, deployments) = timed(lambda: build(size, per_repo))
    analyse_s, _ = timed(lambda: analyse(inventory, deployments))
    plan_s, facts = timed(lambda: plan(inventory, deployments))
    traced = peak(lambda: (analyse(inventory, deployments), plan(inventory, deployments))) if memory else 0
    print(
        f"{inventory.tag_count:>7} {len(inventory.tags):>5} {len(inventory.manifests):>9} "
        f"{build_s:>7.2f} {analyse_s:>9.2f} {plan_s:>7.2f} {facts['items']:>6} {facts['kept']:>6} "
        f"{facts['json_bytes'] / 1e6:>7.1f} {traced / 1e6:>7.0f}"
    )
    return analyse_s, plan_s


def main() -> None:
    """Run the benchmark over the requested sizes and print the growth."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tags", default="10000,25000,50000,100000")
    parser.add_argument("--tags-per-repo", type=int, default=50)
    parser.add_argument("--no-memory", action="store_true", help="skip the traced (slower) runs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.tags.split(",")]
    print(
        f"{'tags':>7} {'repos':>5} {'manifests':>9} {'build s':>7} {'analyse s':>9} {'plan s':>7} "
        f"{'items':>6} {'kept':>6} {'plan MB':>7} {'peak MB':>7}"
    )
    rows = [(size, *measure(size, args.tags_per_repo, memory=not args.no_memory)) for size in sizes]
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nru_maxrss of the whole run: {maxrss:.0f} MB (peak MB = tracemalloc peak of analyse + plan)")
    (small, a0, p0), (large, a1, p1) = rows[0], rows[-1]
    print(
        f"from {small} to {large} tags (x{large / small:.0f}): analyse x{a1 / a0:.1f}, plan x{p1 / p0:.1f} "
        f"({a0 / small * 1e6:.0f} -> {a1 / large * 1e6:.0f} us/tag analyse, "
        f"{p0 / small * 1e6:.0f} -> {p1 / large * 1e6:.0f} us/tag plan)"
    )


if __name__ == "__main__":
    main()
