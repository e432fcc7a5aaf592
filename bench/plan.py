"""Analysis and planning benchmark on synthetic inventories (10,000 to 1,000,000 tags, in memory).

    .venv/bin/python bench/plan.py [--tags 10000,100000,1000000] [--tags-per-repo 50] [--traced]

The inventory looks like a busy registry: ~50 tags per repository, digests with several tags (`latest`,
`stable`), multi-arch indexes, cosign signatures, 20 shared base images, deployments using 2 % of the
digests (pinned or by tag). For each size it prints the time to analyse (stale, latest, sprawl, usage,
shared layers, duplicate content, base detection) and to plan (evaluate + items hash + JSON), the
tracemalloc peak of a second, traced run, and how time grows from the smallest size to the largest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
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
        # One diff_id string per base layer, as a registry's config blobs name the same content: a new
        # string per image would be a third of the inventory's memory at a million tags.
        self.base_diff_ids = {d.digest: digest(f"diff-{d.digest}") for base in self.bases for d in base}
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
        base_diff_ids = tuple(self.base_diff_ids[d.digest] for d in base)
        manifest = Manifest(
            digest=digest(f"image{n}"),
            media_type=DOCKER_MANIFEST,
            size=self.rng.randint(500, 2000),
            config=Descriptor(digest(f"config{n}"), 1500),
            layers=layers,
            diff_ids=base_diff_ids + tuple(digest(f"diff-{d.digest}") for d in own),
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


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall s, CPU s, result): CPU time is what the work costs on a machine other jobs share."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def peak_rss_mb() -> float:
    """The peak resident set of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def traced_peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(size: int, per_repo: int, *, traced: bool) -> dict[str, float]:
    """Build, analyse and plan one size in this process (run alone, so its peak RSS is its own)."""
    build_wall, _, (inventory, deployments) = timed(lambda: build(size, per_repo))
    inventory_mb = peak_rss_mb()
    analyse_wall, analyse_cpu, _ = timed(lambda: analyse(inventory, deployments))
    plan_wall, plan_cpu, facts = timed(lambda: plan(inventory, deployments))
    row = {
        "tags": inventory.tag_count,
        "repos": len(inventory.tags),
        "manifests": len(inventory.manifests),
        "build_s": build_wall,
        "analyse_s": analyse_wall,
        "analyse_cpu": analyse_cpu,
        "plan_s": plan_wall,
        "plan_cpu": plan_cpu,
        "items": facts["items"],
        "kept": facts["kept"],
        "plan_mb": facts["json_bytes"] / 1e6,
        "inventory_mb": inventory_mb,
        "peak_mb": peak_rss_mb(),
    }
    if traced:
        row["traced_mb"] = (
            traced_peak(lambda: (analyse(inventory, deployments), plan(inventory, deployments))) / 1e6
        )
    return row


HEADER = (
    f"{'tags':>9} {'repos':>6} {'manifests':>9} {'build s':>7} {'analyse s':>9} {'us/tag':>6} "
    f"{'plan s':>7} {'us/tag':>6} {'items':>7} {'kept':>7} {'plan MB':>7} {'inv. MB':>7} {'peak MB':>7}"
)


def print_row(row: dict[str, float]) -> None:
    """One size: CPU seconds and CPU us per tag for analyse and plan; RSS after building and at the end."""
    tags = row["tags"]
    print(
        f"{tags:>9,.0f} {row['repos']:>6,.0f} {row['manifests']:>9,.0f} {row['build_s']:>7.1f} "
        f"{row['analyse_cpu']:>9.2f} {row['analyse_cpu'] / tags * 1e6:>6.1f} "
        f"{row['plan_cpu']:>7.2f} {row['plan_cpu'] / tags * 1e6:>6.1f} {row['items']:>7,.0f} "
        f"{row['kept']:>7,.0f} {row['plan_mb']:>7.1f} {row['inventory_mb']:>7.0f} {row['peak_mb']:>7.0f}"
        + (f"  (tracemalloc peak of analyse + plan {row['traced_mb']:.0f} MB)" if "traced_mb" in row else ""),
        flush=True,
    )


def main() -> None:
    """Run each size in its own process and print the table and the growth of the per-tag cost."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tags", default="10000,100000,1000000")
    parser.add_argument("--tags-per-repo", type=int, default=50)
    parser.add_argument("--traced", action="store_true", help="also a tracemalloc peak (slow; small sizes)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child: one size, one JSON line
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.tags_per_repo, traced=args.traced)))
        return
    print(
        HEADER
        + "\n(analyse and plan: CPU seconds and CPU microseconds per tag; RSS after the build and peak)"
    )
    rows = []
    for size in (int(s) for s in args.tags.split(",")):
        cmd = [sys.executable, __file__, "--one", str(size), "--tags-per-repo", str(args.tags_per_repo)]
        if args.traced:
            cmd.append("--traced")
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{size} tags failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print_row(rows[-1])
    first, last = rows[0], rows[-1]
    for phase in ("analyse", "plan"):
        small = first[f"{phase}_cpu"] / first["tags"] * 1e6
        large = last[f"{phase}_cpu"] / last["tags"] * 1e6
        print(
            f"{phase}: {small:.1f} us/tag at {first['tags']:,.0f} tags, {large:.1f} at {last['tags']:,.0f} "
            f"(x{large / small:.2f})"
        )


if __name__ == "__main__":
    main()
