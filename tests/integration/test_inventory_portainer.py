"""`regent inventory --portainer`: registries through the BE proxy or directly (CE), and every environment."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, Seeder, seed_sample
from tests.cli import run_regent
from tests.conftest import SeederFactory, need_binary
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeEnvironment, FakeRegistry, FakeStack, FakeUser, make_pod
from tools.inventory.store import SnapshotStore
from tools.registry.client import RegistryClient
from tools.registry.http import pooled_client

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]
API_KEY = "ptr_inventory-test-key-0001"
SERVICE_PASSWORD = "inventory-service-account-pw"


def regent(*args: str, state: Path, env_extra: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    done = run_regent("inventory", *args, "--json", state=state, env=env_extra)
    return done.returncode, json.loads(done.stdout) if done.stdout else {}, done.stderr


@pytest.mark.parametrize("edition", ["BE", "CE"])
def test_portainer_inventory(
    edition: str,
    registry_htpasswd: RegistryServer,
    make_seeder: SeederFactory,
    dockerd: DockerDaemon,
    tmp_path: Path,
) -> None:
    need_binary("busybox", "busybox-static")
    seeder: Seeder = make_seeder(registry_htpasswd, auth=("alice", "s3cret"))
    seed_sample(seeder, now=NOW, runnable=False)
    web = seeder.push_image(ImageSpec(repository="shop/web", tag="9.0", created=NOW, runnable=True))
    expected = seeder.expected()
    ref = f"{registry_htpasswd.host}/shop/web:9.0"
    auth = {"username": "alice", "password": "s3cret"}
    dockerd.client.post(
        "/images/create",
        params={"fromImage": ref.rsplit(":", 1)[0], "tag": "9.0"},
        headers={"X-Registry-Auth": _registry_auth(auth)},
    ).read()
    running = dockerd.run(ref, name=f"pt-{edition}-web")
    api_digest = seeder.tagged()[("shop/api", "1.4.0")]
    pod = make_pod(
        "api-0",
        namespace="shop",
        containers=[
            (
                "api",
                f"{registry_htpasswd.host}/shop/api:1.4.0",
                f"docker-pullable://{registry_htpasswd.host}/shop/api@{api_digest}",
            )
        ],
    )
    stack = FakeStack(
        1,
        "batch",
        1,
        f"services:\n  w:\n    image: {registry_htpasswd.host}/team-x/worker:${{TAG}}\n",
        env={"TAG": "1.0.0"},
    )
    fake = FakePortainer(
        edition=edition,  # type: ignore[arg-type]
        users=[FakeUser(1, "admin", password=SERVICE_PASSWORD, api_keys=(API_KEY,))],
        registries=[FakeRegistry(5, "private", registry_htpasswd.url, username="alice", password="s3cret")],
        environments=[
            FakeEnvironment.docker(1, "prod-docker", socket=str(dockerd.socket_path)),
            FakeEnvironment.kubernetes(2, "prod-k8s", pods=[pod]),
        ],
        stacks=[stack],
    )
    config = tmp_path / "regent.yml"
    try:
        with fake:
            config.write_text(f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
            env = {"PORTAINER_API_KEY": API_KEY, "REGENT_CONFIG": str(config)}
            if edition == "BE":  # the proxy authenticates with a service account's JWT, never the API key
                env.update(PORTAINER_PROXY_USERNAME="admin", PORTAINER_PROXY_PASSWORD=SERVICE_PASSWORD)
            if edition == "CE":  # CE has no registry proxy: Regent needs its own credentials for it
                config.write_text(
                    config.read_text() + "registries:\n  - name: private\n"
                    f"    url: {registry_htpasswd.url}\n    username_env: REG_U\n"
                    "    password_env: REG_P\n"
                )
                env.update(REG_U="alice", REG_P="s3cret")
            code, out, err = regent(state=tmp_path, env_extra=env)
            proxied = fake.count("/api/registries/5/v2/*")
    finally:
        dockerd.remove_container(running)
    assert code == 0, err
    (reg,) = out["registries"]
    assert (reg["repositories"], reg["tags"], reg["manifests"], reg["stored_bytes"]) == (
        expected.repositories,
        expected.tags,
        expected.manifests,
        expected.stored_bytes,
    )
    assert (proxied > 0) == (edition == "BE")
    assert {e["name"] for e in out["environments"]} == {"prod-docker", "prod-k8s"}
    store = SnapshotStore(tmp_path / "regent.db")
    snapshot = store.latest()
    store.close()
    assert snapshot is not None
    by_name = {d.name: d for d in snapshot.deployments}
    assert by_name[f"pt-{edition}-web"].digest == web.digest
    pod_user = by_name["shop/api-0/api"]
    assert pod_user.digest == api_digest and pod_user.kind == "pod"
    stack_users = [d for d in snapshot.deployments if d.kind == "stack"]
    assert stack_users and stack_users[0].digest == seeder.tagged()[("team-x/worker", "1.0.0")]
    assert "s3cret" not in err and API_KEY not in err and API_KEY not in json.dumps(out)
    assert SERVICE_PASSWORD not in err + json.dumps(out)


def _registry_auth(auth: dict[str, str]) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()


WIPE = """
policies:
  - name: wipe
    repositories: ["**"]
    delete:
      - all: true
"""


def test_images_named_only_in_compose_swarm_or_kubernetes_stacks_are_in_use_and_kept(
    registry: RegistryServer, seeder: Seeder, dockerd: DockerDaemon, tmp_path: Path
) -> None:
    """H1 end to end: each stack type names an image found nowhere else; a delete-everything plan keeps all
    three (Portainer's per-environment stack filter would have hidden the Swarm and Kubernetes ones)."""
    pushed = {
        kind: seeder.push_image(ImageSpec(f"only/{kind}", "1", created=NOW, extra_layer_seed=kind))
        for kind in ("compose", "swarm", "kube", "unused")
    }
    host = registry.host
    kube = (
        "kind: Deployment\nmetadata: {name: k}\nspec:\n  template:\n    spec:\n      containers:\n"
        f"      - {{name: k, image: {host}/only/kube:1}}\n"
    )
    fake = FakePortainer(
        users=[FakeUser(1, "admin", api_keys=(API_KEY,))],
        registries=[FakeRegistry(1, "local", host)],
        environments=[
            FakeEnvironment.docker(1, "prod-docker", socket=str(dockerd.socket_path)),
            FakeEnvironment.swarm(2, "prod-swarm", services=[], socket=str(dockerd.socket_path)),
            FakeEnvironment.kubernetes(3, "prod-k8s", pods=[]),
        ],
        stacks=[
            FakeStack(1, "compose", 1, f"services:\n  c:\n    image: {host}/only/compose:1\n", type=2),
            FakeStack(2, "swarm", 2, f"services:\n  s:\n    image: {host}/only/swarm:1\n", type=1),
            FakeStack(3, "kube", 3, kube, type=3),
        ],
    )
    policy = tmp_path / "wipe.yml"
    policy.write_text(WIPE)
    config = tmp_path / "regent.yml"
    env = {"PORTAINER_API_KEY": API_KEY, "REGENT_CONFIG": str(config)}
    with fake:
        config.write_text(f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
        planned = run_regent("plan", "--policy", str(policy), "--json", state=tmp_path, env=env)
        assert planned.returncode == 0, planned.stderr
        plan = json.loads(planned.stdout)
        applied = run_regent("apply", plan["plan_id"], "--yes", state=tmp_path, env=env)
        assert applied.returncode == 0, applied.stderr
        assert fake.count("/api/stacks") >= 2  # listed unfiltered, once per inventory (plan, then apply)
    store = SnapshotStore(tmp_path / "regent.db")
    snapshot = store.latest()
    store.close()
    assert snapshot is not None
    in_use = {d.digest for d in snapshot.deployments if d.kind == "stack"}
    assert in_use == {pushed[kind].digest for kind in ("compose", "swarm", "kube")}
    assert {item["digest"] for item in plan["items"]} == {pushed["unused"].digest}
    with pooled_client(connections=2) as http:
        client = RegistryClient(registry.url, http=http)
        for kind, image in pushed.items():
            found = client.head_manifest(f"only/{kind}", image.digest)
            assert (found is None) == (kind == "unused"), kind
