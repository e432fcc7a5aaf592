"""The vendor-fake base: native routes answered in front, everything else from the real registry."""

from __future__ import annotations

import datetime as dt

import httpx

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.registry_front import RegistryFront
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.registry.client import RegistryClient

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _route(request: Request) -> Response | None:
    if request.path == "/v2/_catalog":
        return json_response(404, {"errors": [{"code": "UNSUPPORTED", "message": "no catalog here"}]})
    if request.path == "/api/ping":
        return json_response(200, {"pong": True})
    return None


def test_front_answers_its_routes_and_passes_v2_through(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    pushed = seeder.push_image(ImageSpec(repository="team/app", tag="1.0", created=NOW))
    seeder.tag("team/app", pushed.digest, "latest")
    with RegistryFront(registry.url, _route) as front:
        client = RegistryClient(front.url, http=http_client)
        assert sorted(client.list_tags("team/app")) == ["1.0", "latest"]
        head = client.head_manifest("team/app", "1.0")
        manifest = client.get_manifest("team/app", "1.0")
        assert head is not None and head.digest == manifest.digest and head.size == len(manifest.body)
        assert httpx.get(f"{front.url}/api/ping").json() == {"pong": True}
        assert httpx.get(f"{front.url}/v2/_catalog").status_code == 404
        found = crawl_registry(client, RegistrySource(name="front", url=front.url), repositories=["team/app"])
        assert set(found.tags["team/app"]) == {"1.0", "latest"} and not found.errors
        assert front.count("GET", "/v2/team/app/manifests/") >= 2
        assert front.count("HEAD") == 1
