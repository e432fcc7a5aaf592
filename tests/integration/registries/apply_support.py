"""`regent plan` then `regent apply --yes` against a vendor fake, as the per-kind apply tests run it: one
image of two tags older than the policy allows, one kept by its tag."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bot.demo.images import ImageSpec
from bot.demo.seed import Seeder
from tests.cli import run_regent

NOW = dt.datetime.now(dt.UTC)
POLICY = """\
policies:
  - name: cleanup
    repositories: ["**"]
    keep:
      - tags: ["current"]
    delete:
      - older_than_days: 90
"""


def push_dated(
    seeder: Seeder, clocks: dict[str, dt.datetime], repository: str, tag: str, created: dt.datetime, seed: str
) -> str:
    """Push an image built at `created`; the vendor's push clock (`clocks`, digest -> time) agrees."""
    image = ImageSpec(repository=repository, tag=tag, created=created, extra_layer_seed=seed)
    digest = seeder.push_image(image).digest
    clocks[digest] = created
    return digest


def push_old_and_current(seeder: Seeder, repository: str, clocks: dict[str, dt.datetime]) -> tuple[str, str]:
    """(old, current): `old` and `old-alias` on one 200-day-old image, `current` on another; the
    vendor's push clock (`clocks`, digest -> time) says the same age."""

    def push(tag: str) -> str:
        return push_dated(seeder, clocks, repository, tag, NOW - dt.timedelta(days=200), tag)

    old = push("old")
    seeder.tag(repository, old, "old-alias")
    return old, push("current")


def plan(
    tmp_path: Path, registry_yaml: str, secrets: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Regent's plan (JSON) for POLICY over the configured registry, and the environment it ran in."""
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    config = tmp_path / "regent.yml"
    config.write_text(registry_yaml)
    env = {"REGENT_CONFIG": str(config), **secrets}
    planned = run_regent("plan", "--policy", str(policy), "--json", state=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr
    found: dict[str, Any] = json.loads(planned.stdout)
    return found, env


def apply(plan_id: str, tmp_path: Path, env: dict[str, str], *, secret: str) -> None:
    """`regent apply --yes`: it succeeds and never prints the registry's secret."""
    applied = run_regent("apply", plan_id, "--yes", state=tmp_path, env=env)
    assert applied.returncode == 0, applied.stderr
    assert secret not in applied.stdout + applied.stderr


def apply_again(plan_id: str, tmp_path: Path, env: dict[str, str]) -> str:
    """A second `regent apply --yes` of the same plan: its output (it must say it already ran)."""
    again = run_regent("apply", plan_id, "--yes", state=tmp_path, env=env)
    return again.stdout
