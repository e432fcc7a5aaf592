"""`regent serve` wiring: events_service_for(runtime) mounted on the server's Router, fed by a real
docker-registry, analysing pushes with the registry clients the inventory uses, alerting through WebClient."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from slack_sdk import WebClient

from bot.app import build_app
from bot.config import Settings, load_secrets
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, Seeder
from bot.serve.events import events_service_for
from bot.slack.alerts import SlackAlertPoster
from bot.web.server import HttpServer, Router
from tests.conftest import need_binary
from tests.fakes.slack_api import FakeSlackApi

SECRET = "serve-events-secret"
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_serve_mounts_the_receiver_and_alerts_on_an_unusual_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_client: httpx.Client
) -> None:
    binary = need_binary("docker-registry", "docker-registry")
    monkeypatch.setenv("REGENT_EVENTS_SECRET", SECRET)
    router = Router()
    with FakeSlackApi() as slack, HttpServer(router) as server:
        endpoint = {
            "name": "regent",
            "url": f"{server.url}/events/registry",
            "headers": {"Authorization": [f"Bearer {SECRET}"]},
            "timeout": "2s",
            "threshold": 3,
            "backoff": "1s",
        }
        with RegistryServer(binary=binary, notifications=[endpoint]) as registry:
            settings = Settings.model_validate(
                {
                    "registries": [{"name": "test", "url": registry.url}],
                    "events": {"alert_channel": "#alerts", "push": {"min_size_delta_bytes": 0}},
                }
            )
            runtime = build_app(settings=settings, secrets=load_secrets(settings), state_dir=tmp_path)
            service = events_service_for(
                runtime, alerts=SlackAlertPoster(WebClient(token="xoxb-test", base_url=slack.api_url))
            )
            assert service is not None
            service.mount(router)
            service.start()
            try:
                seeder = Seeder(registry.url, client=http_client)
                seeder.push_image(ImageSpec(repository="team/app", tag="1", created=NOW, layer_size=2048))
                deadline = time.monotonic() + 20
                while not runtime.events.events(actions=["push"]):
                    assert time.monotonic() < deadline, "no push event arrived"
                    time.sleep(0.05)
                seeder.push_image(
                    ImageSpec(repository="team/app", tag="2", created=NOW, layer_size=64 * 1024)
                )
                [alert] = slack.wait_for("chat.postMessage", 1, timeout=20)
                assert (
                    alert.ok and alert.args["channel"] == "#alerts" and "team/app:2" in json.dumps(alert.args)
                )
                assert service.pushes.wait_idle(10)
                refused = http_client.post(f"{server.url}/events/harbor", content=b"{}")
                assert refused.status_code == 401
            finally:
                service.close()
                runtime.close()


def test_without_a_secret_nothing_is_mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGENT_EVENTS_SECRET", raising=False)
    runtime = build_app(settings=Settings(), secrets=load_secrets(Settings()), state_dir=tmp_path)
    try:
        assert events_service_for(runtime, alerts=None) is None
    finally:
        runtime.close()
