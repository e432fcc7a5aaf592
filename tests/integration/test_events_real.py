"""End to end: the real docker-registry notifies Regent's receiver; pushes and pulls go through the real
dockerd and the v2 API; stored events, last-pulled times, excluded actors and the push alert (posted with
slack_sdk's WebClient to a recording Slack) are checked. Notifications are asynchronous and retried by the
registry, so every check polls with a timeout.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from slack_sdk import WebClient

from bot.config import EventsSettings
from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_0, ALPINE_3_19_1, BaseImage, ImageSpec, PushedImage, Seeder
from bot.serve.events import EventsService, exclusions_of
from bot.slack.alerts import SlackAlertPoster
from bot.web.server import HttpServer, Router
from tests.conftest import need_binary
from tests.fakes.slack_api import FakeSlackApi
from tools.events.rules import PushRules
from tools.events.stats import clock_data, pull_stats
from tools.events.store import EventStore
from tools.registry.client import RegistryClient
from tools.registry.http import pooled_client
from tools.registry.media_types import ACCEPT_MANIFESTS

SECRET = "events-shared-secret"
USERS = {"alice": "alice-pw", "trivy-scanner": "scan-pw"}
CHANNEL = "#registry-alerts"
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def wait_until(check: Callable[[], bool], *, timeout: float = 20.0, what: str) -> None:
    """Poll `check` until true; the registry's notification queue is asynchronous."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def spec(tag: str, base: BaseImage, *, layer_size: int) -> ImageSpec:
    return ImageSpec(
        repository="shop/api",
        tag=tag,
        created=NOW,
        base=base,
        annotations={"org.opencontainers.image.base.name": base.name},
        media_type="oci",
        layer_size=layer_size,
        extra_layer_seed=tag,
    )


def docker_pull(dockerd: DockerDaemon, reference: str, *, user: str) -> None:
    """POST /images/create with X-Registry-Auth, as `docker pull` after `docker login` does."""
    auth = {"username": user, "password": USERS[user], "serveraddress": reference.split("/", 1)[0]}
    header = base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
    name, tag = reference.rsplit(":", 1)
    with dockerd.client.stream(
        "POST", "/images/create", params={"fromImage": name, "tag": tag}, headers={"X-Registry-Auth": header}
    ) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
    assert response.status_code == 200 and not any("error" in line for line in lines), lines


def v2_get(
    http: httpx.Client, registry: RegistryServer, tag: str, *, user: str, agent: str | None = None
) -> None:
    headers = {"Accept": ACCEPT_MANIFESTS, **({"User-Agent": agent} if agent else {})}
    url = f"{registry.url}/v2/shop/api/manifests/{tag}"
    assert http.get(url, headers=headers, auth=(user, USERS[user])).status_code == 200


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


def test_notifications_from_the_real_registry(
    tmp_path: Path, dockerd: DockerDaemon, slack: FakeSlackApi, http_client: httpx.Client
) -> None:
    binary = need_binary("docker-registry", "docker-registry")
    need_binary("htpasswd", "apache2-utils")
    store = EventStore(tmp_path / "regent.db")
    settings = EventsSettings(
        ignore_actors=["trivy-*"],
        ignore_user_agents=["Trivy/*"],
        alert_channel=CHANNEL,
        push=PushRules(min_size_delta_bytes=64 * 1024),
    )
    regent_http = pooled_client(connections=4)
    clients: dict[str, RegistryClient] = {}
    service = EventsService(
        settings=settings,
        secret=SecretStr(SECRET),
        store=store,
        lookup=clients.get,
        alerts=SlackAlertPoster(WebClient(token="xoxb-test", base_url=slack.api_url)),
    )
    service.pushes.start()
    router = Router()
    service.mount(router)  # the way `regent serve` mounts it
    try:
        with HttpServer(router) as server:
            regent_url = server.url
            endpoint = {
                "name": "regent",
                "url": f"{regent_url}/events/registry",
                "headers": {"Authorization": [f"Bearer {SECRET}"]},
                "timeout": "2s",
                "threshold": 3,
                "backoff": "1s",
                "ignoredmediatypes": ["application/octet-stream"],
            }
            with RegistryServer(
                binary=binary, auth="htpasswd", users=USERS, notifications=[endpoint]
            ) as registry:
                clients[registry.host] = RegistryClient(
                    registry.url, http=regent_http, username="alice", password=USERS["alice"]
                )
                try:
                    _exercise(registry, dockerd, store, slack, service, http_client)
                finally:
                    dockerd.client.delete(f"/images/{registry.host}/shop/api:1.1", params={"force": "1"})
    finally:
        service.close()
        regent_http.close()
        store.close()


def _exercise(
    registry: RegistryServer,
    dockerd: DockerDaemon,
    store: EventStore,
    slack: FakeSlackApi,
    service: EventsService,
    http: httpx.Client,
) -> None:
    seeder = Seeder(registry.url, client=http, auth=("alice", USERS["alice"]))
    pushed: dict[str, PushedImage] = {}
    for tag, base, size in (("1.0", ALPINE_3_19_1, 16 * 1024), ("1.1", ALPINE_3_19_1, 24 * 1024)):
        pushed[tag] = seeder.push_image(spec(tag, base, layer_size=size))
    wait_until(lambda: len(store.events(actions=["push"])) >= 2, what="the first two pushes")
    # 3x larger and on an older base: the one anomalous push.
    pushed["2.0"] = seeder.push_image(spec("2.0", ALPINE_3_19_0, layer_size=400 * 1024))

    reference = f"{registry.host}/shop/api:1.1"
    docker_pull(dockerd, reference, user="alice")  # real use: counts
    v2_get(http, registry, "1.0", user="alice")  # real use over the v2 API: counts
    wait_until(lambda: _pulls(store, "1.0") >= 1, what="alice's pull of 1.0")
    alice_pulled_at = max(
        e.at for e in store.events(actions=["pull"]) if e.tag == "1.0" and e.actor == "alice"
    )
    time.sleep(0.05)
    v2_get(http, registry, "1.0", user="trivy-scanner")  # a scanner: excluded by actor
    v2_get(http, registry, "1.0", user="alice", agent="Trivy/0.50.1")  # a scanner's agent: excluded
    wait_until(lambda: _pulls(store, "1.0") >= 3, what="the scanners' pulls")

    # Stored events: three manifest pushes by alice, from loopback, to this registry.
    pushes = {e.tag: e for e in store.events(actions=["push"]) if e.tag}
    assert set(pushes) == {"1.0", "1.1", "2.0"}
    assert {(e.actor, e.addr, e.registry, e.digest) for e in pushes.values()} == {
        ("alice", "127.0.0.1", registry.host, pushed[t].digest) for t in pushes
    }
    assert not store.events(kind="blob")  # ignoredmediatypes kept layer events away

    # Pull statistics and the last_pulled clock ignore the scanner, its user agent and Regent itself.
    exclusions = exclusions_of(EventsSettings(ignore_actors=["trivy-*"], ignore_user_agents=["Trivy/*"]))
    stats = pull_stats(store, exclusions=exclusions, registry=registry.host, repository="shop/api")
    by_tag = {c.tag: c for c in stats.by_tag}
    assert by_tag["1.0"].pulls == 1 and by_tag["1.0"].excluded_pulls >= 2
    assert by_tag["1.0"].last_pulled == alice_pulled_at
    assert by_tag["1.1"].pulls >= 1  # dockerd's pull (docker/20.10 user agent, actor alice)
    assert "trivy-scanner" in stats.excluded_actors
    agents = {e.user_agent.split("/")[0].lower() for e in store.events(actions=["pull"])}
    assert {"docker", "trivy"} <= agents
    clocks = clock_data(store, registry=registry.host, exclusions=exclusions)
    assert clocks.last_pulled[pushed["1.0"].digest] == alice_pulled_at
    assert clocks.pushed[pushed["2.0"].digest] == pushes["2.0"].at

    # The push monitor analysed every tagged push once and alerted exactly one of them.
    assert service.pushes.wait_idle(20)
    [alert] = slack.wait_for("chat.postMessage", 1, timeout=10)
    assert alert.ok and alert.args["channel"] == CHANNEL  # the fake checks Block Kit limits too
    text = json.dumps(alert.args)
    assert (
        "shop/api:2.0" in text and "downgraded from 3.19.1 to 3.19.0" in text and "x the size of 1.1" in text
    )
    assert all(store.push_checked(pushes[t].id) for t in ("1.0", "1.1", "2.0"))
    [report] = store.push_reports()
    assert report["tag"] == "2.0" and report["previous"]["tag"] == "1.1"
    time.sleep(0.3)
    assert len(slack.calls("chat.postMessage")) == 1


def _pulls(store: EventStore, tag: str) -> int:
    return sum(1 for e in store.events(actions=["pull"]) if e.tag == tag)
