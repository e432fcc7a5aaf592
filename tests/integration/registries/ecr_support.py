"""Fixtures and seeding shared by the ECR tests: moto's server, a real registry as ECR's blob store."""

from __future__ import annotations

import datetime as dt
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo.images import BuiltImage, ImageSpec, build_image
from bot.demo.registry_server import RegistryServer
from bot.demo.seeder import Seeder
from tests.conftest import need_binary
from tests.fakes.ecr import (
    ACCESS_KEY,
    REGION,
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    SECRET_KEY,
    MotoEcr,
    ensure_repository,
    put_image,
)
from tools.registry.kinds.base import AdapterConfig

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def moto_ecr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoEcr]:
    """moto's server, emptied, with botocore pointed at it through AWS_ENDPOINT_URL_ECR (as in production)."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    with MotoEcr() as server:
        # moto keeps its backends per process: a reset makes this test's ECR empty whatever ran before
        urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset", method="POST"))
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", server.url)
        yield server


@pytest.fixture
def ecr_blobs() -> Iterator[RegistryServer]:
    """The real registry holding ECR's blobs; only `AWS:<moto's registry token>` may read it."""
    binary = need_binary("docker-registry", "docker-registry")
    need_binary("htpasswd", "apache2-utils")
    with RegistryServer(binary=binary, auth="htpasswd", users={REGISTRY_USER: REGISTRY_PASSWORD}) as server:
        yield server


@dataclass
class EcrSeed:
    """Pushes each image into both halves of the fake ECR: blobs to the registry, the image to moto."""

    seeder: Seeder
    ecr: Any
    images: dict[tuple[str, str], BuiltImage]

    def push(
        self, repository: str, tags: Sequence[str], *, days_old: int = 0, layer_size: int = 1024
    ) -> BuiltImage:
        """Build one image, push its blobs and manifest to the registry, and PutImage it in moto."""
        spec = ImageSpec(
            repository=repository,
            tag=None,
            created=NOW - dt.timedelta(days=days_old),
            layer_size=layer_size,
            extra_layer_seed=f"{repository}:{','.join(tags)}:{days_old}",
        )
        built = build_image(spec)
        self.seeder.push_built(repository, built, None)
        ensure_repository(self.ecr, repository)
        put_image(self.ecr, repository, built, tags)
        self.images[(repository, built.digest)] = built
        return built

    def stored_bytes(self) -> int:
        """Distinct manifest, config and layer bytes of everything pushed (what a crawl must count)."""
        blobs: dict[str, int] = {}
        for built in self.images.values():
            blobs[built.digest] = len(built.manifest)
            blobs[built.config.digest] = built.config.size
            for layer in built.layers:
                blobs[layer.digest] = layer.size
        return sum(blobs.values())


def make_seed(server: RegistryServer, moto: MotoEcr, http: httpx.Client) -> EcrSeed:
    """An EcrSeed over the registry (authenticated as ECR's registry user) and moto."""
    seeder = Seeder(server.url, client=http, auth=(REGISTRY_USER, REGISTRY_PASSWORD))
    return EcrSeed(seeder=seeder, ecr=moto.client(), images={})


def adapter_config(url: str, http: httpx.Client, **changes: Any) -> AdapterConfig:
    """What Portainer hands over for an ECR record: key id, secret, region, and the registry URL."""
    values: dict[str, Any] = {
        "kind": "ecr",
        "url": url,
        "http": http,
        "username": ACCESS_KEY,
        "password": SECRET_KEY,
        "region": REGION,
    }
    values.update(changes)
    return AdapterConfig(**values)
