"""ECR crawl benchmark (#13): the ECR adapter (DescribeRepositories, v2, DescribeImages) against the v2-only
path, on the fake ECR of the tests (moto's server for the AWS API, docker-registry for blobs, a v2 front
answering tags and manifests from moto).

    .venv/bin/python bench/crawl.py --ecr [--repositories 100] [--tags 10] [--repeat 3]

Prints wall time and requests (v2 by method, AWS API calls by operation) of cold crawls, median of --repeat.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo.images import ImageSpec, build_image  # noqa: E402
from bot.demo.registry_server import RegistryServer  # noqa: E402
from bot.demo.seeder import Seeder  # noqa: E402
from tests.fakes.ecr import (  # noqa: E402
    ACCESS_KEY,
    REGION,
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    SECRET_KEY,
    MotoEcr,
    ecr_front,
    ensure_repository,
    put_image,
)
from tools.inventory.crawl import crawl_registry  # noqa: E402
from tools.inventory.models import RegistrySource  # noqa: E402
from tools.registry.http import pooled_client  # noqa: E402
from tools.registry.kinds.base import AdapterConfig, NativeRegistry  # noqa: E402
from tools.registry.kinds.ecr.adapter import EcrRegistry  # noqa: E402

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def seed(registry: RegistryServer, moto: MotoEcr, repositories: int, tags: int) -> int:
    """Push repositories x tags images into both halves of the fake ECR; the number of tags."""
    ecr = moto.client()
    with pooled_client(connections=16) as http:
        seeder = Seeder(registry.url, client=http, auth=(REGISTRY_USER, REGISTRY_PASSWORD))

        def push(index: int) -> None:
            repository = f"bench/repo-{index:04}"
            ensure_repository(ecr, repository)
            for n in range(tags):
                spec = ImageSpec(
                    repository=repository,
                    tag=None,
                    created=BASE + dt.timedelta(days=n),
                    extra_layer_seed=f"{repository}:{n}",
                    layer_size=512,
                )
                built = build_image(spec)
                seeder.push_built(repository, built, None)
                put_image(ecr, repository, built, [f"v{n}"])

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(push, range(repositories)))
    return repositories * tags


def crawl_once(url: str, *, native: bool) -> tuple[float, int, Counter[str], Counter[str]]:
    """One cold crawl; (wall s, tags, v2 requests by method, AWS calls by operation)."""
    with pooled_client(connections=24) as http:
        config = AdapterConfig(
            kind="ecr", url=url, http=http, username=ACCESS_KEY, password=SECRET_KEY, region=REGION
        )
        start = time.perf_counter()
        client: Any
        if native:
            client = EcrRegistry(config)
        else:  # what Regent did before #13: v2 only, with a registry password it was given
            client = NativeRegistry(config, username=REGISTRY_USER, password=REGISTRY_PASSWORD)
        inventory = crawl_registry(client, RegistrySource(name="ecr", url=url, kind="ecr"))
        wall = time.perf_counter() - start
    if inventory.errors:
        raise SystemExit(f"crawl errors: {inventory.errors[:3]}")
    calls = Counter(client.api.calls) if native else Counter()
    return wall, inventory.tag_count, Counter(client.requests), calls


def run(repositories: int, tags: int, repeat: int) -> None:
    """Seed the fake ECR, crawl it both ways, print the figures."""
    with (
        MotoEcr() as moto,
        RegistryServer(auth="htpasswd", users={REGISTRY_USER: REGISTRY_PASSWORD}) as registry,
    ):
        urllib.request.urlopen(urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST"))
        os.environ["AWS_ENDPOINT_URL_ECR"] = moto.url  # botocore's own override, as in production
        os.environ.setdefault("AWS_CONFIG_FILE", str(Path(tempfile.mkdtemp()) / "none"))
        start = time.perf_counter()
        expected = seed(registry, moto, repositories, tags)
        print(f"seeded {repositories} repositories x {tags} images in {time.perf_counter() - start:.1f} s")
        with ecr_front(registry.url, moto.client()) as front:
            print(f"\n  {'path':10} {'wall s':>8} {'v2 req':>7} {'AWS calls':>10}  detail")
            for label, native in (("v2 only", False), ("ECR API", True)):
                runs = [crawl_once(front.url, native=native) for _ in range(repeat)]
                for _, seen, _, _ in runs:
                    if seen != expected:
                        raise SystemExit(f"{label}: saw {seen} tags, expected {expected}")
                wall = statistics.median(r[0] for r in runs)
                _, _, v2, aws = runs[0]
                print(
                    f"  {label:10} {wall:8.2f} {sum(v2.values()):7d} {sum(aws.values()):10d}"
                    f"  v2 {dict(v2)} aws {dict(aws)}"
                )
