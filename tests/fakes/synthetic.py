"""Synthetic inventory snapshots of any size, built directly (no registry): for bounds and token tests.

Deterministic: repository `teamK/appNNNN`, tags `v0..`, each tag its own manifest on one of two shared
bases, ages spread over 400 days, every tenth repository's newest tag running in `prod-1`.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from tools.inventory.models import (
    Deployment,
    Descriptor,
    Environment,
    InventorySnapshot,
    Manifest,
    Platform,
    RegistryInventory,
    RegistrySource,
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def fake_digest(text: str) -> str:
    """A stable sha256 digest for a label."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def synthetic_snapshot(
    *, tags: int, tags_per_repository: int = 10, now: dt.datetime = NOW, name: str = "synthetic"
) -> InventorySnapshot:
    """A snapshot with one registry holding `tags` tags (and as many manifests)."""
    source = RegistrySource(name=name, url="http://127.0.0.1:5999", kind="custom")
    inventory = RegistryInventory(source=source)
    bases = [
        (Descriptor(fake_digest(f"base-{b}-0"), 3_000_000), Descriptor(fake_digest(f"base-{b}-1"), 1_000_000))
        for b in range(2)
    ]
    deployments: list[Deployment] = []
    for index in range(tags):
        repo_index, number = divmod(index, tags_per_repository)
        repository = f"team{repo_index % 10}/app{repo_index:04d}"
        tag = f"v{number}"
        own = Descriptor(fake_digest(f"own-{index}"), 10_000 + (index * 7919) % 5_000_000)
        config = Descriptor(fake_digest(f"config-{index}"), 1_500)
        created = now - dt.timedelta(days=(repo_index * 7 + number * 37) % 400, minutes=repo_index)
        manifest = Manifest(
            digest=fake_digest(f"manifest-{index}"),
            media_type=DOCKER_MANIFEST,
            size=520,
            config=config,
            layers=(*bases[repo_index % 2], own),
            created=created,
            platform=Platform("linux", "amd64"),
            labels={"org.opencontainers.image.version": tag},
        )
        inventory.manifests[manifest.digest] = manifest
        inventory.tags.setdefault(repository, {})[tag] = manifest.digest
        inventory.repository_digests.setdefault(repository, set()).add(manifest.digest)
        if repo_index % 10 == 0 and number == tags_per_repository - 1:
            deployments.append(
                Deployment(
                    environment_id=1,
                    environment="prod-1",
                    kind="container",
                    name=f"{repository.replace('/', '-')}-1",
                    image=f"127.0.0.1:5999/{repository}:{tag}",
                    digest=manifest.digest,
                    state="running",
                )
            )
    return InventorySnapshot(
        taken_at=now,
        registries=[inventory],
        environments=[Environment(id=1, name="prod-1", kind="docker", status="up")],
        deployments=deployments,
    )
