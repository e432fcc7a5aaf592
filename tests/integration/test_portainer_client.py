"""PortainerClient against the fake Portainer (CE and BE), a real dockerd and a real registry."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from bot.demo.dockerd import DockerDaemon
from bot.demo.images import busybox_available
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from tests.conftest import TEST_USERS, SeederFactory, need_binary
from tests.fakes.portainer import FakeEnvironment, FakePortainer, FakeRegistry, FakeStack
from tests.fakes.portainer_records import make_pod, make_service
from tools.errors import NotFound
from tools.inventory.models import Deployment
from tools.portainer.client import PortainerClient
from tools.registry.client import RegistryClient
from tools.registry.media_types import ACCEPT_MANIFESTS

pytestmark = pytest.mark.real

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
CANARY = "canary-registry-password-7f3a"
TOKEN_CANARY = "canary-ecr-token-91c2"
PINNED = "sha256:" + "5e" * 32
POD_DIGEST = "sha256:" + "9d" * 32
INIT_DIGEST = "sha256:" + "1c" * 32


@dataclass(frozen=True)
class Seeded:
    """An image in the registry, pulled into dockerd, with one running and one exited container."""

    reference: str
    digest: str
    running: str  # container names
    exited: str


@pytest.fixture
def seeded(dockerd: DockerDaemon, registry: RegistryServer, seeder: Seeder) -> Iterator[Seeded]:
    """Push a runnable image, pull it, run one container and stop another; remove them afterwards."""
    if not busybox_available():
        need_binary("busybox", "busybox-static")
    spec = ImageSpec("shop/api", "1.4", created=NOW, base=ALPINE_3_19_1, runnable=True)
    pushed = seeder.push_image(spec)
    reference = f"{registry.host}/shop/api:1.4"
    dockerd.pull(reference)
    suffix = uuid.uuid4().hex[:8]
    running = dockerd.run(reference, name=f"api-run-{suffix}")
    exited = dockerd.run(reference, name=f"api-old-{suffix}")
    dockerd.stop_container(exited)
    try:
        yield Seeded(reference, pushed.digest, f"api-run-{suffix}", f"api-old-{suffix}")
    finally:
        dockerd.remove_container(running)
        dockerd.remove_container(exited)


def registry_digest(http: httpx.Client, registry: RegistryServer, repository: str, tag: str) -> str:
    """What the registry itself says the tag's manifest digest is."""
    head = http.head(f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT_MANIFESTS})
    assert head.status_code == 200
    return head.headers["Docker-Content-Digest"]


def client_for(fake: FakePortainer, **options: object) -> PortainerClient:
    """An admin API-key client with fast retries."""
    return PortainerClient(fake.url, api_key=fake.admin.api_keys[0], max_retry_wait=0.05, **options)  # type: ignore[arg-type]


def by_name(deployments: list[Deployment]) -> dict[str, Deployment]:
    """Deployments keyed by name."""
    return {d.name: d for d in deployments}


@pytest.mark.parametrize("edition", ["CE", "BE"])
def test_docker_containers_resolve_to_the_registry_digest(
    edition: str, seeded: Seeded, dockerd: DockerDaemon, registry: RegistryServer, http_client: httpx.Client
) -> None:
    env = FakeEnvironment.docker(1, "prod-docker-01", socket=str(dockerd.socket_path))
    with FakePortainer(edition=edition, environments=[env]) as fake, client_for(fake) as client:  # type: ignore[arg-type]
        [environment] = client.environments()
        assert (environment.kind, environment.status) == ("docker", "up")
        deployments, errors = client.deployments(environment)
    assert errors == []
    found = by_name(deployments)
    expected = registry_digest(http_client, registry, "shop/api", "1.4")
    assert expected == seeded.digest
    for name, state in ((seeded.running, "running"), (seeded.exited, "exited")):
        container = found[name]
        assert (container.kind, container.image, container.state) == ("container", seeded.reference, state)
        assert container.digest == expected
        assert container.image_id.startswith("sha256:")
    # Not a Swarm manager: /info says so, and services are never asked for.
    assert fake.count("/api/endpoints/1/docker/services") == 0


def test_swarm_services_pods_and_stacks(dockerd: DockerDaemon) -> None:
    services = [
        make_service("shop_web", f"r.example/shop/web:2.0@{PINNED}"),
        make_service("tag", "r.example/x:1"),
    ]
    pod = make_pod(
        "api-7d9f",
        namespace="shop",
        containers=[("api", "r.example/shop/api:1.4", f"docker-pullable://r.example/shop/api@{POD_DIGEST}")],
        init_containers=[("migrate", "r.example/shop/migrate:1", f"r.example/shop/migrate@{INIT_DIGEST}")],
        phase="Running",
    )
    pending = make_pod("web-0", containers=[("web", f"r.example/web@{PINNED}", "")], phase="Pending")
    compose = (
        "services:\n"
        "  api:\n    image: r.example/shop/api:${TAG:-1.0}\n"
        f"  worker:\n    image: r.example/shop/worker@{PINNED}\n"
        "  built:\n    build: .\n"
    )
    kube = "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n"
    kube += "      - {name: web, image: r.example/web:3}\n"
    with (
        FakePortainer(
            environments=[
                FakeEnvironment.swarm(2, "swarm-prod", services=services, socket=str(dockerd.socket_path)),
                FakeEnvironment.kubernetes(3, "k8s-prod", pods=[pod, pending]),
            ],
            stacks=[
                FakeStack(1, "shop", 2, compose, type=1, env={"TAG": "1.4"}),
                FakeStack(2, "web", 3, kube, type=3, status=2),
            ],
        ) as fake,
        client_for(fake) as client,
    ):
        swarm, kube_env = client.environments()
        swarm_found, swarm_errors = client.deployments(swarm)
        kube_found, kube_errors = client.deployments(kube_env)
        assert client.stack_file(1) == compose
    assert swarm_errors == kube_errors == []
    found = by_name(swarm_found)
    assert (found["shop_web"].kind, found["shop_web"].digest) == ("service", PINNED)
    assert found["tag"].digest is None
    assert (found["shop/api"].image, found["shop/api"].digest, found["shop/api"].state) == (
        "r.example/shop/api:1.4",
        None,
        "active",
    )
    assert found["shop/worker"].digest == PINNED
    assert "shop/built" not in found
    pods = by_name(kube_found)
    assert (pods["shop/api-7d9f/api"].digest, pods["shop/api-7d9f/api"].state) == (POD_DIGEST, "running")
    assert pods["shop/api-7d9f/migrate"].digest == INIT_DIGEST
    assert pods["default/web-0/web"].digest == PINNED  # not running yet: the pinned spec still counts
    stack = pods["web/Deployment/web/web"]
    assert (stack.kind, stack.image, stack.state) == ("stack", "r.example/web:3", "inactive")


@pytest.mark.parametrize("edition", ["CE", "BE"])
def test_registries_never_expose_credentials(edition: str) -> None:
    records = [
        FakeRegistry(1, "harbor", "harbor.example.com", username="robot", password=CANARY),
        FakeRegistry(2, "local", "127.0.0.1:5000"),
        FakeRegistry(
            3,
            "ecr",
            "1234.dkr.ecr.eu-west-1.amazonaws.com",
            type=7,
            password=CANARY,
            username="AKIA",
            access_token=TOKEN_CANARY,
        ),
        FakeRegistry(4, "hub", "docker.io", type=6),
    ]
    with FakePortainer(edition=edition, registries=records) as fake, client_for(fake) as client:  # type: ignore[arg-type]
        raw = httpx.get(f"{fake.url}/api/registries", headers={"X-API-Key": fake.admin.api_keys[0]}).text
        registries = client.registries()
        sources = client.registry_sources(schemes={"local": "http"})
    if edition == "CE":
        assert CANARY in raw  # the real CE leak the client has to contain
    assert TOKEN_CANARY in raw
    for registry in registries:
        for text in (repr(registry), str(registry.model_dump()), registry.model_dump_json()):
            assert CANARY not in text and TOKEN_CANARY not in text
    assert [r.kind for r in registries] == ["custom", "custom", "ecr", "dockerhub"]
    by = {s.name: s for s in sources}
    if edition == "BE":
        assert by["harbor"].access == "portainer-proxy"
        assert by["harbor"].url == f"{fake.url}/api/registries/1"
        assert by["harbor"].host == "harbor.example.com"
    else:
        assert (by["harbor"].access, by["harbor"].url) == ("direct", "https://harbor.example.com")
        assert by["local"].url == "http://127.0.0.1:5000"
        assert (by["hub"].url, by["hub"].host) == ("https://registry-1.docker.io", "docker.io")


def test_be_proxy_reaches_the_registry_with_stored_credentials(
    registry_htpasswd: RegistryServer, make_seeder: SeederFactory, http_client: httpx.Client
) -> None:
    user, password = next(iter(TEST_USERS.items()))
    pushed = make_seeder(registry_htpasswd, auth=(user, password)).push_image(
        ImageSpec("team/app", "1", created=NOW)
    )
    record = FakeRegistry(5, "private", registry_htpasswd.url, username=user, password=password)
    with (
        FakePortainer(edition="BE", registries=[record]) as fake,
        PortainerClient(fake.url, username="admin", password=fake.admin.password) as client,
    ):
        assert client.status().edition == "BE"
        proxy = client.registry_proxy(5)  # a JWT from the login, which BE strips before the registry
        assert fake.admin.api_keys[0] not in repr(proxy) and "Bearer" not in repr(proxy)
        client.ping_registry_proxy(5)
        registry_client = RegistryClient(proxy.base_url, http=http_client, headers=dict(proxy.headers))
        assert registry_client.catalog() == ["team/app"]
        head = registry_client.head_manifest("team/app", "1")
        assert fake.count("/api/registries/5/v2/_catalog") == 1
    assert head is not None and head.digest == pushed.digest


def test_ce_has_no_registry_proxy(registry: RegistryServer) -> None:
    with FakePortainer(edition="CE", registries=[FakeRegistry(1, "r", registry.url)]) as fake:
        with client_for(fake) as client:
            assert client.status().edition == "CE"
            with pytest.raises(NotFound):
                client.ping_registry_proxy(1, allow_api_key=True)  # CE forwards nothing anywhere
        assert fake.count("/api/registries/1/v2/") == 1  # a 404 is an answer: not retried
