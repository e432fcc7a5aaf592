"""Refresh benchmark: what an event-driven refresh costs against how many repositories changed.

    .venv/bin/python bench/refresh.py [--repositories 1000] [--changed 1,3,10,100] [--repeat 3]

A real docker-registry holds --repositories repositories (one tag each). After a first full crawl, each
round pushes a new tag to N repositories, records their push notifications in the event store (the way
the receiver stores them), and runs the refresh `regent serve` runs on a notification. It prints the
registry requests and wall time of the refresh (median of --repeat rounds) next to a full warm crawl of
the same registry, which costs a request per repository and per tag however little changed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from bot.app import App, build_app  # noqa: E402
from bot.config import Secrets, Settings  # noqa: E402
from bot.demo.bulk import fill_repositories  # noqa: E402
from bot.demo.images import ImageSpec  # noqa: E402
from bot.demo.registry_server import RegistryServer  # noqa: E402
from bot.demo.seeder import Seeder  # noqa: E402
from bot.serve.inventory import InventoryService, inventory_service_for  # noqa: E402
from tools.events.models import RegistryEvent  # noqa: E402

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def repositories(count: int) -> list[str]:
    """The benchmark's repository names."""
    return [f"team{i % 10}/app{i:04d}" for i in range(count)]


def push_round(seeder: Seeder, runtime: App, host: str, names: list[str], tag: str) -> None:
    """A new tag in each repository, and its push notification in the event store."""
    events = []
    for name in names:
        pushed = seeder.push_image(ImageSpec(repository=name, tag=tag, created=NOW, extra_layer_seed=tag))
        events.append(
            RegistryEvent(
                id=uuid.uuid4().hex,
                format="distribution",
                registry=host,
                action="push",
                repository=name,
                digest=pushed.digest,
                tag=tag,
                media_type=pushed.media_type,
                at=dt.datetime.now(dt.UTC),
            )
        )
    runtime.events.add(events, now=dt.datetime.now(dt.UTC))


def measure(service: InventoryService, *, scheduled: bool) -> tuple[int, float]:
    """Requests and wall time of one run."""
    started = time.perf_counter()
    report = service.run_once(scheduled=scheduled)
    return report.requests, time.perf_counter() - started


def timed_full(service: InventoryService) -> tuple[int, float]:
    """Requests and wall time of a full crawl (what every scheduled run costs without notifications)."""
    started = time.perf_counter()
    report = service.runner.full(verify=False)
    return report.requests, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repositories", type=int, default=1000)
    parser.add_argument("--changed", default="1,3,10,100")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    counts = [int(n) for n in args.changed.split(",")]
    names = repositories(args.repositories)
    with RegistryServer() as registry, Seeder(registry.url) as seeder:
        started = time.perf_counter()
        fill_repositories(seeder, ImageSpec(repository="seed", tag="v1", created=NOW), names)
        print(f"{args.repositories} repositories in {time.perf_counter() - started:.1f} s")
        settings = Settings.model_validate(
            {"registries": [{"name": "local", "url": registry.url}], "inventory": {"crawl_cron": "0 0 1 1 *"}}
        )
        state = Path(tempfile.mkdtemp(prefix="regent-bench-refresh-"))
        runtime = build_app(
            settings=settings, secrets=Secrets(events_secret=SecretStr("x" * 16)), state_dir=state
        )
        service = inventory_service_for(runtime)
        assert service is not None
        try:
            cold = measure(service, scheduled=True)  # no snapshot yet: a full crawl
            warm = [timed_full(service) for _ in range(args.repeat)]
            fresh = iter(random.Random(17).sample(names, len(names)))  # each round changes new repositories
            rows = []
            for count in counts:
                runs = []
                for round_ in range(args.repeat):
                    changed = [next(fresh) for _ in range(count)]
                    push_round(seeder, runtime, registry.host, changed, f"r{count}-{round_}")
                    runs.append(measure(service, scheduled=False))
                rows.append(
                    (count, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
                )
        finally:
            service.close()
            runtime.close()
    warm_requests, warm_wall = statistics.median(r[0] for r in warm), statistics.median(r[1] for r in warm)
    print(
        f"\nfull crawl, cold: {cold[0]} requests, {cold[1]:.2f} s;"
        f" warm (nothing changed): {warm_requests:.0f} requests, {warm_wall:.2f} s"
    )
    print(f"\n{'changed':>8} {'requests':>9} {'wall s':>7}  (of {args.repositories} repositories)")
    for count, requests, wall in rows:
        print(f"{count:8d} {requests:9.0f} {wall:7.2f}")


if __name__ == "__main__":
    main()
