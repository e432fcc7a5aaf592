"""Fixtures for the Slack integration tests: a small real registry, crawled, with a cleanup plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from tests.integration.slack.harness import POLICIES, SlackHarness, start_slack
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistryInventory, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.plans import Plan
from tools.registry.client import RegistryClient

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@dataclass
class SmallRegistry:
    """A real registry with team-x/app 1.0 and 1.1 (old) and 2.0 (new), crawled."""

    server: RegistryServer
    client: RegistryClient
    inventory: RegistryInventory

    def plan(self) -> Plan:
        """The dry-run plan of the team-x cleanup policy: delete 1.0 and 1.1, keep 2.0."""
        return evaluate_policies(
            parse_policies(POLICIES), registries=[self.inventory], deployments=[], now=NOW
        )

    def tags(self) -> list[str]:
        """Tags of team-x/app right now."""
        return sorted(self.client.list_tags("team-x/app", fresh=True))


@pytest.fixture
def small_registry(registry: RegistryServer, seeder: Seeder, http_client: httpx.Client) -> SmallRegistry:
    """Seed and crawl team-x/app on the real registry."""
    for tag, days in (("1.0", 400), ("1.1", 300), ("2.0", 1)):
        seeder.push_image(
            ImageSpec(
                repository="team-x/app",
                tag=tag,
                created=NOW - dt.timedelta(days=days),
                base=ALPINE_3_19_1,
                labels={"org.opencontainers.image.title": "<!channel> app"},
                extra_layer_seed=tag,
            )
        )
    client = RegistryClient(registry.url, http=http_client, max_retry_wait=1.0)
    inventory = crawl_registry(client, RegistrySource(name="local", url=registry.url), workers=2)
    assert not inventory.partial, inventory.errors
    return SmallRegistry(registry, client, inventory)


@pytest.fixture
def harness(tmp_path: Path, small_registry: SmallRegistry) -> Iterator[SlackHarness]:
    """`regent serve` on the small registry, without a language model."""
    with start_slack(tmp_path, registry_url=small_registry.server.url) as running:
        yield running
