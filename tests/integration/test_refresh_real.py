"""Event-driven refresh against the real docker-registry (issue 17's done-when).

1,000 repositories; the registry notifies Regent's receiver (the way `regent serve` mounts it) of pushes.
After pushes to 3 of them, the refresh that the notifications trigger sends requests for those 3
repositories only: the registry's own access log is the witness. Which repositories changed is "the
events check", a query of the local event store, so it costs no registry request. Then notifications are
switched off, another repository changes, and the scheduled full verification reports exactly that change
(log, metric, refresh log).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import App, build_app
from bot.config import Secrets, Settings
from bot.demo.bulk import fill_repositories
from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seeder import Seeder
from bot.digest.sections_refresh import section_of
from bot.serve.events import events_service_for
from bot.serve.inventory import InventoryService, inventory_service_for
from bot.web.server import HttpServer, Router
from tests.conftest import need_binary
from tools.inventory.refresh_log import RefreshLog

SECRET = "refresh-events-secret"
NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
REPOSITORIES = [f"team{i % 10}/app{i:04d}" for i in range(1000)]
PUSHED = [REPOSITORIES[7], REPOSITORIES[420], REPOSITORIES[999]]
SILENT = REPOSITORIES[500]  # changed while notifications are off
_ACCESS = re.compile(r'"(GET|HEAD|POST|PUT|DELETE|PATCH) (\S+) HTTP/[\d.]+"')


def wait_until(check: Callable[[], bool], *, timeout: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def spec(repository: str, tag: str) -> ImageSpec:
    return ImageSpec(repository=repository, tag=tag, created=NOW, extra_layer_seed=f"{repository}:{tag}")


class AccessLog:
    """The registry's access log from a mark on: every request it served."""

    def __init__(self, registry: RegistryServer) -> None:
        self._path = registry.log_path
        self._offset = 0

    def mark(self) -> None:
        self._offset = self._path.stat().st_size

    def requests(self) -> list[tuple[str, str]]:
        with self._path.open("rb") as log:
            log.seek(self._offset)
            text = log.read().decode(errors="replace")
        return _ACCESS.findall(text)


@contextmanager
def regent_receiving(tmp_path: Path, registry: RegistryServer) -> Iterator[tuple[App, InventoryService]]:
    """The App with a crawl schedule, and the events receiver on Regent's HTTP server."""
    settings = Settings.model_validate(
        {
            "registries": [{"name": "local", "url": registry.url}],
            # yearly: only the runs this test starts happen; every scheduled run is a verification
            "inventory": {"crawl_cron": "0 0 1 1 *", "verify_hours": 0.0001, "event_delay_seconds": 0.1},
        }
    )
    runtime = build_app(
        settings=settings, secrets=Secrets(events_secret=SecretStr(SECRET)), state_dir=tmp_path / "state"
    )
    events = events_service_for(runtime, alerts=None)
    inventory = inventory_service_for(runtime)
    assert events is not None and inventory is not None
    events.listen(inventory.notify)  # as regent serve wires it; the push monitor is not started
    router = Router()
    events.mount(router)
    try:
        with HttpServer(router) as server:
            endpoint = notification_endpoint(server.url)
            registry.notifications[:] = [endpoint]  # read at the next (re)start
            yield runtime, inventory
    finally:
        inventory.close()
        events.close()
        runtime.close()


def notification_endpoint(regent_url: str) -> dict[str, Any]:
    return {
        "name": "regent",
        "url": f"{regent_url}/events/registry",
        "headers": {"Authorization": [f"Bearer {SECRET}"]},
        "timeout": "2s",
        "threshold": 3,
        "backoff": "1s",
        "ignoredmediatypes": ["application/octet-stream"],
    }


def set_notifications(registry: RegistryServer, *, on: bool) -> None:
    for endpoint in registry.notifications:
        endpoint["disabled"] = not on
    registry.restart()


@pytest.mark.real
def test_refresh_crawls_only_what_was_pushed_and_verification_finds_the_silent_change(
    tmp_path: Path, http_client: httpx.Client
) -> None:
    binary = need_binary("docker-registry", "docker-registry")
    with RegistryServer(binary=binary, access_log=True) as registry, Seeder(registry.url) as seeder:
        fill_repositories(seeder, spec("seed", "v1"), REPOSITORIES)
        with regent_receiving(tmp_path, registry) as (runtime, inventory):
            first = inventory.run_once(scheduled=True)
            assert first.kind == "full" and first.snapshot is not None
            assert first.snapshot.registries[0].tag_count == 1000
            set_notifications(registry, on=True)

            access = AccessLog(registry)
            for repository in PUSHED:
                seeder.push_image(spec(repository, "v2"))
            wait_until(
                lambda: sum(len(r) for r in runtime.events.changed_repositories(since=NOW).values()) == 3,
                what="the three push notifications",
            )
            access.mark()
            inventory.start()  # the notifications woke it (or wake it now): an event-driven refresh
            wait_until(lambda: any(r.kind == "refresh" for r in inventory.reports), what="the refresh")
            [refresh] = [r for r in inventory.reports if r.kind == "refresh"]
            served = access.requests()
            assert refresh.crawled == {"local": sorted(PUSHED)}
            touched = {path.split("/")[2] + "/" + path.split("/")[3] for _, path in served}
            assert touched == set(PUSHED), served  # no catalog, no other repository
            # per repository: the tag list, v1 by HEAD (cached), v2's manifest and config by GET
            assert len(served) == refresh.requests == 3 * 4, served
            assert refresh.snapshot is not None
            refreshed = refresh.snapshot.registries[0]
            assert refreshed.tag_count == 1003 and not refreshed.partial
            assert all(set(refreshed.tags[r]) == {"v1", "v2"} for r in PUSHED)

            set_notifications(registry, on=False)
            pushed = seeder.push_image(spec(SILENT, "v9"))
            time.sleep(0.5)
            assert SILENT not in runtime.events.changed_repositories(since=NOW).get(registry.host, set())
            verify = inventory.run_once(scheduled=True)
            assert verify.kind == "verify"
            [missed] = verify.missed["local"]
            assert (missed.repository, missed.tag, missed.before, missed.after) == (
                SILENT,
                "v9",
                None,
                pushed.digest,
            )
            metric = runtime.metrics.registry.get_sample_value(
                "regent_refresh_missed_changes_total", {"registry": "local"}
            )
            assert metric == 1.0
            log = RefreshLog(runtime.db_path)
            rows = [row for row in log.since(NOW) if row.kind == "verify"]
            log.close()
            assert [(r.missed, r.changes) for r in rows] == [(1, (f"{SILENT}:v9 added",))]
            section = section_of(rows, rows=5)  # what the digest shows
            assert section is not None and section.severity == "warning" and section.table is not None
            assert "1 changes that no registry notification announced" in section.lines[1]
            assert section.table.rows[0][2] == f"{SILENT}:v9 added"
