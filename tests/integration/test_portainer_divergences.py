"""Where a real Portainer differs from what Regent's client assumed (shared/reference/portainer-real.md).

Each test runs the client against the fake Portainer, which now follows Portainer's handlers; each one
failed on the client before the fix it names.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fakes.portainer import (
    FakeAuthLog,
    FakeEnvironment,
    FakeMembership,
    FakePortainer,
    FakeRegistry,
    FakeRegistryAccess,
    FakeStack,
    FakeTeam,
    FakeUser,
)
from tests.fakes.portainer_records import STANDARD_USER, TEAM_LEADER, make_service
from tools.errors import ConfigError
from tools.portainer.client import PortainerClient
from tools.portainer.sources import portainer_deployment_source

SECRET = "canary-aws-secret-key-5d1e"
COMPOSE = "services:\n  api:\n    image: r.example/only/compose:1\n"
SWARM = "services:\n  web:\n    image: r.example/only/swarm:1\n"
KUBE = (
    "kind: Deployment\nmetadata: {name: k}\nspec:\n  template:\n    spec:\n      containers:\n"
    "      - {name: k, image: r.example/only/kube:1}\n"
)


def admin_client(fake: FakePortainer, **options: object) -> PortainerClient:
    """An admin API-key client with fast retries."""
    return PortainerClient(fake.url, api_key=fake.admin.api_keys[0], max_retry_wait=0.01, **options)  # type: ignore[arg-type]


def three_stacks() -> FakePortainer:
    """A Docker, a Swarm and a Kubernetes environment, each with one stack naming its own image."""
    return FakePortainer(
        environments=[
            FakeEnvironment.docker(1, "compose-env", socket=None),
            FakeEnvironment.swarm(2, "swarm-env", services=[make_service("other", "r.example/x:1")]),
            FakeEnvironment.kubernetes(3, "kube-env", pods=[]),
        ],
        stacks=[
            FakeStack(1, "c", 1, COMPOSE, type=2),
            FakeStack(2, "s", 2, SWARM, type=1, swarm_id="jpofkc0i9uo9wtx1zesuk649w"),
            FakeStack(3, "k", 3, KUBE, type=3),
        ],
    )


def test_the_fakes_stack_filter_follows_stack_list_go() -> None:
    """stack_list.go:119-135: EndpointID keeps Compose stacks only; Swarm needs SwarmID; Kubernetes never."""
    with three_stacks() as fake:
        key = {"X-API-Key": fake.admin.api_keys[0]}

        def names(filters: dict[str, object]) -> list[str]:
            params = {"filters": json.dumps(filters)}
            return [s["Name"] for s in httpx.get(f"{fake.url}/api/stacks", headers=key, params=params).json()]

        assert names({"EndpointID": 1}) == ["c"]
        assert names({"EndpointID": 2}) == names({"EndpointID": 3}) == []
        assert names({"SwarmID": "jpofkc0i9uo9wtx1zesuk649w"}) == ["s"]
        assert names({}) == ["c", "s", "k"]


def test_swarm_and_kubernetes_stack_files_count_on_their_environment() -> None:
    """H1: the client filtered stacks by EndpointID, so Swarm and Kubernetes stack files were never read."""
    with three_stacks() as fake, admin_client(fake) as client:
        images = {}
        for env in client.environments():
            deployments, _errors = client.deployments(env)
            images[env.name] = {d.image for d in deployments if d.kind == "stack"}
    assert images == {
        "compose-env": {"r.example/only/compose:1"},
        "swarm-env": {"r.example/only/swarm:1"},
        "kube-env": {"r.example/only/kube:1"},
    }


def test_an_inventory_lists_stacks_once_and_reads_those_of_a_down_environment() -> None:
    with three_stacks() as fake, admin_client(fake) as client:
        fake.environments[2].status = 2  # the cluster is down; its stack file is in Portainer's database
        batch = portainer_deployment_source(client)()
        assert fake.count("/api/stacks") == 1
    declared = {d.image for d in batch.deployments if d.kind == "stack"}
    assert declared == {"r.example/only/compose:1", "r.example/only/swarm:1", "r.example/only/kube:1"}
    assert "environment kube-env is down" in batch.errors


def test_auth_log_polls_do_not_repeat_the_boundary_entry() -> None:
    """BE's `after` is inclusive: the entry at exactly `after` came back on every poll."""
    logs = [
        FakeAuthLog(id=i, timestamp=1_790_000_000 + (i // 2) * 60, username="a", origin="o") for i in range(6)
    ]
    with FakePortainer(edition="BE", auth_logs=logs) as fake, admin_client(fake, page_size=2) as client:
        first = client.auth_logs()
        again = client.auth_logs(after=first[-1].timestamp)
        middle = client.auth_logs(after=logs[2].timestamp)
    assert [e.id for e in first] == list(range(6))
    assert again == []
    assert [e.id for e in middle] == [4, 5]


@pytest.mark.parametrize("edition", ["CE", "BE"])
def test_a_server_older_than_2_17_is_not_called_ce(edition: str) -> None:
    """Before 2.17 there is no /api/system/* at all: the client took the 404 for "CE" (or failed)."""
    with FakePortainer(edition=edition, version="2.16.2") as fake, admin_client(fake) as client:  # type: ignore[arg-type]
        status = client.status()
        assert fake.count("/api/system/version") == 0
    assert (status.version, status.edition, status.instance_id) == ("2.16.2", "unknown", fake.instance_id)
    assert "older than 2.17" in status.edition_source


def test_an_unreadable_version_is_an_unknown_edition() -> None:
    with FakePortainer(edition="BE") as fake, admin_client(fake) as client:
        fake.fail_next("/api/system/version", times=3, status=500)
        status = client.status()
        assert status.edition == "unknown" and "500" in status.edition_source
        sources = client.registry_sources(edition=status.edition)
    assert all(source.access == "direct" for source in sources)  # the proxy is not guessed at


def ecr_records() -> list[FakeRegistry]:
    return [
        FakeRegistry(
            3,
            "ecr",
            "1234.dkr.ecr.eu-west-1.amazonaws.com",
            type=7,
            username="AKIAEXAMPLE",
            password=SECRET,
            ecr_region="eu-west-1",
        ),
        FakeRegistry(4, "harbor", "harbor.example.com", username="robot", password=SECRET),
    ]


def test_ecr_region_is_parsed_and_the_keys_come_only_from_ecr_credentials() -> None:
    with FakePortainer(registries=ecr_records()) as fake, admin_client(fake) as client:
        registries = {r.name: r for r in client.registries()}
        keys = client.ecr_credentials(3)
        with pytest.raises(ConfigError, match="not an ECR registry"):
            client.ecr_credentials(4)
    assert (registries["ecr"].ecr_region, registries["harbor"].ecr_region) == ("eu-west-1", "")
    for registry in registries.values():
        assert SECRET not in registry.model_dump_json() and "AKIA" not in repr(registry)
    assert (keys.access_key_id, keys.secret_access_key.get_secret_value(), keys.region) == (
        "AKIAEXAMPLE",
        SECRET,
        "eu-west-1",
    )
    assert SECRET not in repr(keys) and "AKIA" not in repr(keys)


def test_be_leaves_ecr_secrets_out_and_says_so() -> None:
    with (
        FakePortainer(edition="BE", registries=ecr_records()) as fake,
        admin_client(fake) as client,
        pytest.raises(ConfigError, match="BE leaves passwords out"),
    ):
        client.ecr_credentials(3)


def test_a_be_standard_user_skips_an_environment_that_cannot_list_registries() -> None:
    """endpoint_registries_list.go: a Kubernetes environment can fail (cluster down: 500) or refuse (403);
    the client gave up on every registry when one environment did."""
    user = FakeUser(2, "reader", role=STANDARD_USER, password="reader-pw")
    granted = {3: FakeRegistryAccess(user_ids=frozenset({2}))}
    with (
        FakePortainer(
            edition="BE",
            users=[FakeUser(1, "admin"), user],
            registries=[
                FakeRegistry(1, "granted", "r1.example.com", accesses=granted),
                FakeRegistry(2, "not", "r2"),
            ],
            environments=[
                FakeEnvironment.kubernetes(1, "k8s-down", pods=[], status=2, user_ids=frozenset({2})),
                FakeEnvironment.docker(2, "nothing-granted", socket=None, user_ids=frozenset({2})),
                FakeEnvironment.docker(3, "grants-it", socket=None, user_ids=frozenset({2})),
            ],
        ) as fake,
        PortainerClient(fake.url, username="reader", password="reader-pw", max_retry_wait=0.01) as client,
    ):
        sources = client.registry_sources()
    assert [(s.name, s.access, s.proxy_environment_id) for s in sources] == [
        ("granted", "portainer-proxy", 3)
    ]


def test_the_fakes_registry_routes_follow_the_handlers() -> None:
    user = FakeUser(2, "reader", role=STANDARD_USER)
    granted = {1: FakeRegistryAccess(user_ids=frozenset({2}))}
    with FakePortainer(
        users=[FakeUser(1, "admin"), user],
        registries=[FakeRegistry(1, "r", "r.example.com", username="u", password=SECRET, accesses=granted)],
        environments=[
            FakeEnvironment.docker(1, "d", socket=None),
            FakeEnvironment.docker(2, "e", socket=None),
        ],
    ) as fake:

        def get(path: str, who: FakeUser, **params: str) -> httpx.Response:
            return httpx.get(f"{fake.url}/api{path}", headers={"X-API-Key": who.api_keys[0]}, params=params)

        assert get("/registries", user).status_code == 403  # registry_list.go: administrators only
        listed = get("/registries", fake.admin).json()[0]
        assert listed["Password"] == SECRET and listed["ManagementConfiguration"]["Password"] == SECRET
        assert get("/registries/1", user).status_code == 500  # no endpointId
        assert get("/registries/1", user, endpointId="9").status_code == 500  # unknown environment
        assert get("/registries/1", user, endpointId="1").status_code == 403  # no access to environment 1
        inspected = get("/registries/1", fake.admin).json()
        assert "Password" not in inspected and inspected["ManagementConfiguration"] is None
        # Docker environments: no environment-access check, only RegistryAccesses[env].
        assert [r["Id"] for r in get("/endpoints/1/registries", user).json()] == [1]
        assert get("/endpoints/2/registries", user).json() == []
        assert get("/endpoints/1/registries", user).json()[0]["RegistryAccesses"] is None
        assert get("/endpoints/1/registries", fake.admin).json()[0]["RegistryAccesses"]["1"]


def test_every_route_names_the_handler_it_follows() -> None:
    for edition in ("CE", "BE"):
        with FakePortainer(edition=edition) as fake:
            sources = fake.route_sources()
        assert sources and all(source for source in sources.values())
        assert all(".go" in source or "BE" in source for source in sources.values())
        if edition == "CE":
            assert not any("/v2" in path or "useractivity" in path for path in sources)


def test_the_api_key_never_goes_through_the_registry_proxy_by_default() -> None:
    with FakePortainer(edition="BE") as fake, admin_client(fake) as client:
        with pytest.raises(ConfigError, match="refusing to send the Portainer API key"):
            client.registry_proxy(1)
        with pytest.raises(ConfigError):
            client.ping_registry_proxy(1)
        opted_in = client.registry_proxy(1, allow_api_key=True)
        assert opted_in.headers == {"X-API-Key": fake.admin.api_keys[0]}
        assert fake.count("/api/registries/*") == 0
    with FakePortainer(edition="BE") as fake:
        login = PortainerClient(fake.url, username="admin", password=fake.admin.password)
        with login:
            proxy = login.registry_proxy(1)
        assert set(proxy.headers) == {"Authorization"} and proxy.headers["Authorization"].startswith(
            "Bearer "
        )


def test_the_fakes_user_routes_follow_the_handlers() -> None:
    """users/*.go: visibility for non-admins and team leaders, admins' keys, a missing key, role changes."""
    admin, other_admin = FakeUser(1, "admin"), FakeUser(2, "ops")
    leader, member = FakeUser(3, "lead", role=STANDARD_USER), FakeUser(4, "dev", role=STANDARD_USER)
    with FakePortainer(
        users=[admin, other_admin, leader, member],
        teams=[FakeTeam(1, "t")],
        memberships=[FakeMembership(1, user_id=3, team_id=1, role=TEAM_LEADER), FakeMembership(2, 4, 1)],
    ) as fake:

        def call(method: str, path: str, who: FakeUser, **body: object) -> httpx.Response:
            headers = {"X-API-Key": who.api_keys[0]}
            return httpx.request(method, f"{fake.url}/api{path}", headers=headers, json=body or None)

        assert call("GET", "/users", member).status_code == 403
        assert call("GET", "/users", leader).json() == [
            {"Id": 3, "Username": "lead", "Role": 2},
            {"Id": 4, "Username": "dev", "Role": 2},
        ]
        assert (
            call("GET", "/users/3", member).status_code == 403 and call("GET", "/users/4", member).is_success
        )
        assert call("GET", "/users/2/tokens", admin).status_code == 403  # another administrator's keys
        assert call("GET", "/users/4/tokens", admin).is_success
        missing = call("DELETE", "/users/4/tokens/99", admin)
        assert (missing.status_code, missing.json()["message"]) == (500, "API Key not found")
        assert call("DELETE", "/users/4/tokens/1", admin).status_code == 403  # key 1 is admin's own
        assert call("PUT", "/users/2", admin, Role=3).status_code == 400
        assert call("PUT", "/users/4", member, Role=1).status_code == 403
        login = httpx.post(f"{fake.url}/api/auth", json={"Username": "ops", "Password": other_admin.password})
        session = {"Authorization": f"Bearer {login.json()['jwt']}"}
        demoted = call("PUT", "/users/2", admin, Role=2).json()
        assert demoted["Role"] == 2 and demoted["TokenIssueAt"] > 0
        assert httpx.get(f"{fake.url}/api/users/me", headers=session).status_code == 401  # older JWT refused
        assert call("GET", "/users/me", other_admin).json()["Role"] == 2  # API keys keep working
        assert call("GET", "/users/2/tokens", admin).is_success  # listable once demoted


def test_an_edge_environment_without_a_tunnel_still_counts_its_stack_files() -> None:
    """endpointproxy: an Edge environment answers only through its tunnel (a 500 otherwise)."""
    edge = FakeEnvironment(5, "edge-site", type=4, docker_socket=None)
    with (
        FakePortainer(environments=[edge], stacks=[FakeStack(1, "c", 5, COMPOSE)]) as fake,
        admin_client(fake) as client,
    ):
        [env] = client.environments()
        deployments, errors = client.deployments(env)
    assert {d.image for d in deployments} == {"r.example/only/compose:1"}
    assert errors and all("Edge tunnel" in error for error in errors)
