"""One full crawl, saved: the part of the App that `regent inventory` needs, without the rest of the App.

`App.refresh_snapshot` and `regent inventory` both run `crawl_and_save`. The command does not build the
App: the App's toolbox, agent and stores import most of Regent (the OpenAI SDK, pydantic models of every
tool, Portainer), about 0.6 s of CPU per process, which was a third of a whole warm `regent inventory`
(#17). This module imports only what a crawl reads from: the configuration, the sources and the
snapshot store.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import PortainerSettings, Settings, load_secrets, load_settings, state_dir
from bot.config.env import Env
from tools.errors import ConfigError
from tools.inventory.inventory import run_inventory
from tools.inventory.models import InventorySnapshot
from tools.inventory.store import SnapshotStore

if TYPE_CHECKING:
    from bot.sources import Sources

DB_NAME = "regent.db"

Progress = Callable[[str, int, int], None]


def settings_from_env(
    *, config: str | None = None, portainer_url: str | None = None, env: Env | None = None
) -> Settings:
    """The configuration file's settings; `portainer_url` (the `--portainer` flag) overrides its URL."""
    settings = load_settings(config, env)
    return with_portainer_url(settings, portainer_url)


def with_portainer_url(settings: Settings, portainer_url: str | None) -> Settings:
    """The settings with Portainer's URL replaced by the flag's, when one is given."""
    if not portainer_url:
        return settings
    current = settings.portainer or PortainerSettings(url=portainer_url)
    return settings.model_copy(update={"portainer": current.model_copy(update={"url": portainer_url})})


def crawl_and_save(
    sources: Sources,
    snapshots: SnapshotStore,
    *,
    workers: int,
    now: datetime,
    progress: Progress | None = None,
) -> InventorySnapshot:
    """Crawl every source now and save the snapshot (source set-up errors first); the caller closes."""
    if not sources.registries and not sources.deployments:
        raise ConfigError(
            "nothing to inventory: give --registry, --portainer, --docker-host or a config file "
            "with registries, Portainer or Docker hosts"
        )
    snapshot = run_inventory(
        sources.registries,
        sources.deployments,
        workers=workers,
        now=now,
        progress=progress,
    )
    snapshot.errors[:0] = sources.errors
    snapshots.save(snapshot)
    return snapshot


def inventory_once(
    *,
    config: str | None,
    portainer_url: str | None,
    registry_urls: list[str],
    docker_hosts: list[str],
    now: datetime,
    progress: Progress | None = None,
    env: Env | None = None,
) -> InventorySnapshot:
    """What `regent inventory` does: settings, secrets and state directory from the environment, exactly
    as `app_from_env` reads them, then one crawl saved to the state database."""
    from bot.sources import build_sources

    settings = settings_from_env(config=config, portainer_url=portainer_url, env=env)
    secrets = load_secrets(settings, env)
    state: Path = state_dir(env)
    snapshots = SnapshotStore(state / DB_NAME)
    try:
        sources = build_sources(
            settings,
            secrets,
            registry_urls=registry_urls,
            docker_hosts=docker_hosts,
            store=snapshots,
            cache_dir=state / "cache",
        )
        # Everything built so far (modules, settings, clients) lives as long as this one-shot process:
        # frozen, it is no longer walked by each full collection the crawl's allocations set off.
        gc.freeze()
        try:
            return crawl_and_save(
                sources, snapshots, workers=settings.crawl_workers, now=now, progress=progress
            )
        finally:
            sources.close()
    finally:
        snapshots.close()
