"""The Docker Hub tests' scenario and checks: what is seeded, the bytes it makes, and the spec validation
of every Hub API exchange (tests/fakes/specs/dockerhub-hub-api.yaml, with openapi-core)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import httpx
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from bot.demo.seed import ImageSpec, PushedImage, Seeder
from tests.fakes.dockerhub_api import Exchange, FakeDockerHubApi

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
PAT = "dckr_pat_fake-0123456789"
SPEC = Path(__file__).parents[2] / "fakes" / "specs" / "dockerhub-hub-api.yaml"
HUB = "https://hub.docker.com"  # the spec's server; exchanges are validated as if sent there
KEEP_LATEST = """
policies:
  - name: tidy
    repositories: ["acme/app"]
    keep:
      - tags: [latest]
    delete:
      - all: true
"""


@dataclass
class Seeded:
    """What the scenario pushed."""

    current: PushedImage  # acme/app: 1.0 and latest
    old: PushedImage  # acme/app: 0.9 and 0.9.1
    oldest: PushedImage  # acme/app: 0.8
    tool: PushedImage  # acme/tool: 2.0
    build: PushedImage  # acme-ci/build: main
    stranger: PushedImage  # other/x: 1 (a namespace nobody named)

    def listed(self) -> list[PushedImage]:
        return [self.current, self.old, self.oldest, self.tool, self.build]


def image(repository: str, tag: str, seed: str) -> ImageSpec:
    return ImageSpec(repository=repository, tag=tag, created=NOW, extra_layer_seed=seed, own_layers=2)


def seed(seeder: Seeder) -> Seeded:
    current = seeder.push_image(image("acme/app", "1.0", "current"))
    seeder.tag("acme/app", current.digest, "latest")
    old = seeder.push_image(image("acme/app", "0.9", "old"))
    seeder.tag("acme/app", old.digest, "0.9.1")
    return Seeded(
        current=current,
        old=old,
        oldest=seeder.push_image(image("acme/app", "0.8", "oldest")),
        tool=seeder.push_image(image("acme/tool", "2.0", "tool")),
        build=seeder.push_image(image("acme-ci/build", "main", "build")),
        stranger=seeder.push_image(image("other/x", "1", "stranger")),
    )


def days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def layer_bytes(pushed: PushedImage) -> int:
    return sum(layer.size for layer in pushed.layers)


def stored_bytes(images: list[PushedImage]) -> int:
    blobs: dict[str, int] = {}
    for pushed in images:
        blobs[pushed.digest] = pushed.manifest_size
        blobs[pushed.config_digest] = pushed.config_size
        blobs.update({layer.digest: layer.size for layer in pushed.layers})
    return sum(blobs.values())


def assert_follows_spec(hub: FakeDockerHubApi) -> int:
    """Every Hub API exchange, request and answer, validated against Docker's OpenAPI; returns how many.

    Outside the document (and so checked here by hand): the tag DELETE (hub-tool's route: 204, no body)
    and 429 answers (the document's rate-limiting section: Retry-After and the X-RateLimit-* headers).
    """
    api = OpenAPI.from_file_path(str(SPEC))
    checked = 0
    for exchange in hub.state.exchanges:
        if exchange.status == 429:
            assert_documented_429(exchange)
            continue
        if exchange.method == "DELETE":
            assert exchange.path.startswith("/v2/repositories/") and exchange.path.endswith("/")
            assert exchange.status in (204, 404)
            continue
        request = MockRequest(
            HUB,
            exchange.method.lower(),
            exchange.path,
            args=dict(httpx.QueryParams(exchange.query)),
            headers=exchange.headers,
            data=exchange.body or None,
        )
        api.validate_request(request)
        answer_type = exchange.answer_headers.get("Content-Type", "application/json")
        api.validate_response(
            request, MockResponse(exchange.answer, exchange.status, content_type=answer_type)
        )
        checked += 1
    return checked


def assert_documented_429(exchange: Exchange) -> None:
    headers = exchange.answer_headers
    assert int(headers["Retry-After"]) >= 0 and headers["X-RateLimit-Remaining"] == "0"
    assert json.loads(exchange.answer) == {"detail": "Rate limit exceeded", "error": False}
