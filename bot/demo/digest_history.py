"""The digest part of `regent demo`: a simulated week of crawls, then today's digest and its chart.

A real registry has no history on its first day, so the demo makes one: five backdated daily crawls of
the sample registry with pushes and a deletion between them (the demo says so). The digest then has
changes, a forecast and a chart, all computed by the same code as in production.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from rich.console import Console

from bot.app import DB_NAME, build_app
from bot.config import Secrets, Settings
from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from bot.digest.runner import DigestRunner
from bot.digest.terminal import print_digest
from bot.sources import shared_http
from tools.inventory.inventory import RegistryTarget, run_inventory
from tools.inventory.models import RegistrySource
from tools.inventory.store import SnapshotStore
from tools.registry.client import RegistryClient

DEMO_DAYS = 5
DEMO_POLICIES = """
policies:
  - name: batch nightlies
    repositories: ["team-x/batch"]
    tags: ["nightly-*"]
    keep:
      - most_recent: 1
    delete:
      - older_than_days: 30
"""


def _release(day: int, *, now: dt.datetime, name: str) -> ImageSpec:
    return ImageSpec(
        repository="shop/api",
        tag=name,
        created=now - dt.timedelta(days=day),
        base=ALPINE_3_19_1,
        layer_size=(DEMO_DAYS - day + 2) * 64 * 1024,
        extra_layer_seed=f"demo-{name}",
    )


def simulate_history(registry_url: str, state: Path, *, source_name: str, now: dt.datetime) -> int:
    """Backdated daily crawls with a release candidate pushed before each (one withdrawn), then the
    release pushed for today's crawl to find; returns the number of backdated crawls."""
    store = SnapshotStore(state / DB_NAME)
    source = RegistrySource(name=source_name, url=registry_url)
    http = shared_http(workers=4)
    client = RegistryClient(registry_url, http=http)
    try:
        with Seeder(registry_url) as seeder:
            withdrawn = None
            for day in range(DEMO_DAYS, 0, -1):
                pushed = seeder.push_image(_release(day, now=now, name=f"1.5.0-rc.{DEMO_DAYS - day + 1}"))
                if day == 3:
                    withdrawn = pushed.digest
                if day == 2 and withdrawn is not None:
                    seeder.delete("shop/api", withdrawn)  # rc.3 is withdrawn: storage goes down too
                target = RegistryTarget(
                    source=source, client=client, previous=store.previous_tags(registry_url)
                )
                store.save(run_inventory([target], [], now=now - dt.timedelta(days=day)))
            seeder.push_image(_release(0, now=now, name="1.5.0"))
    finally:
        http.close()
        store.close()
    return DEMO_DAYS


def print_demo_digest(state: Path, *, registry_name: str, console: Console) -> Path | None:
    """Build today's digest from the demo state, print it, save the chart; returns the chart's path."""
    (state / "policies.yml").write_text(DEMO_POLICIES)
    settings = Settings.model_validate(
        {
            "policies_file": str(state / "policies.yml"),
            "environments": {"production": ["*"]},
            "events": {"push": {"require_signature": ["shop/*"]}},
            "digest": {"cost_per_gb_month": {registry_name: 0.10}},
        }
    )
    runtime = build_app(settings=settings, secrets=Secrets(), state_dir=state)
    runner = DigestRunner(runtime)
    try:
        digest, _plan = runner.build()
        png = runner.render_chart(digest)
    finally:
        runner.close()
        runtime.close()
    path = None
    if png is not None:
        path = Path(tempfile.gettempdir()) / f"regent-demo-digest-{digest.generated_at:%Y-%m-%d}.png"
        path.write_bytes(png)
    print_digest(digest, console=console, chart_path=path)
    return path
