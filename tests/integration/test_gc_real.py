"""Garbage collection end to end on a real registry in a container, under the fake Portainer.

The registry is Debian's docker-registry in an image built here (bot/demo/registry_image.py), run by the
test dockerd as a Compose stack (or a plain container) that the fake Portainer deploys, with host
networking (the test dockerd has no bridge) and its storage bind-mounted from the test's temp dir, so
the test can count the blob bytes on disk itself. Delete through a proposal, approve garbage collection,
and the bytes freed (measured by Regent in the container, and by the test on disk) are the plan's
reclaimable bytes; the registry takes pushes again afterwards; a failure injected at each step leaves it
running, and the report says in which state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import App, build_app
from bot.approvals import Authorizer
from bot.config import Secrets, Settings
from bot.demo.dockerd import DockerDaemon
from bot.demo.images import ImageSpec, busybox_available
from bot.demo.registry_image import DATA_DIR, registry_image
from bot.demo.registry_server import RegistryServer, free_port
from bot.demo.seed import ALPINE_3_19_1, DEBIAN_12, Seeder
from bot.errors import SeedError
from tests.cli import run_regent
from tests.conftest import need_binary
from tests.fakes.portainer import FakeEnvironment, FakePortainer, FakeStack
from tests.fakes.portainer_exec import compose_down, compose_up
from tools.changes.gc_steps import READONLY_ENV, GcReport

pytestmark = pytest.mark.real

REQUESTER, APPROVER = "U0REQ", "U0APP"
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def registry_ref(dockerd: DockerDaemon) -> Iterator[str]:
    """The registry image, pushed to a staging registry and pulled into the test dockerd once."""
    binary = need_binary("docker-registry", "docker-registry")
    if not busybox_available():
        pytest.skip("busybox-static is needed to build the registry image")
    with RegistryServer(binary=binary) as staging, Seeder(staging.url) as seeder:
        seeder.push_built("regent-test/registry", registry_image(binary), "2.8")
        reference = f"{staging.host}/regent-test/registry:2.8"
        dockerd.pull(reference)
        yield reference


def blob_bytes(data: Path) -> int:
    """What the test counts on disk: the blob `data` files under the storage root."""
    return sum(p.stat().st_size for p in (data / "docker/registry/v2/blobs").rglob("data") if p.is_file())


def seed(data: Path) -> dict[str, Any]:
    """Images sharing base layers, one multi-arch; then an offline GC so nothing is left over from pushing."""
    with RegistryServer(root=data) as host, Seeder(host.url) as seeder:
        for tag, base in (("1.0", ALPINE_3_19_1), ("1.1", ALPINE_3_19_1), ("2.0", DEBIAN_12)):
            seeder.push_image(ImageSpec("shop/api", tag, created=NOW, base=base, layer_size=20_000))
        seeder.push_image(ImageSpec("shop/web", "1.0", created=NOW, base=ALPINE_3_19_1, layer_size=30_000))
        children = [
            ImageSpec("shop/cli", None, created=NOW, platform=("linux", arch), layer_size=5_000)
            for arch in ("amd64", "arm64")
        ]
        seeder.push_index("shop/cli", "3.0", children, media_type="oci")
        host.garbage_collect()
    return {}


def stack_file(image: str, port: int, data: Path) -> str:
    return (
        "# the team's registry\n"
        "services:\n"
        "  registry:\n"
        f"    image: {image}\n"
        "    network_mode: host  # the test dockerd has no bridge\n"
        "    environment:\n"
        f'      REGISTRY_HTTP_ADDR: "127.0.0.1:{port}"\n'
        "    volumes:\n"
        f"      - {data}:{DATA_DIR}\n"
    )


@dataclass
class World:
    app: App
    portainer: FakePortainer
    dockerd: DockerDaemon
    stack: FakeStack | None
    data: Path
    url: str
    image: str
    how: str


def run_container(dockerd: DockerDaemon, image: str, port: int, data: Path) -> str:
    """The registry as a plain container (not a stack), started by hand before Portainer knew it."""
    body = {
        "Image": image,
        "Env": [f"REGISTRY_HTTP_ADDR=127.0.0.1:{port}"],
        "HostConfig": {"NetworkMode": "host", "Binds": [f"{data}:{DATA_DIR}"]},
    }
    created = dockerd.client.post("/containers/create", params={"name": f"registry-{port}"}, json=body)
    assert created.status_code == 201, created.text
    dockerd.start_container(created.json()["Id"])
    return f"registry-{port}"


@pytest.fixture(params=["stack"])
def world(
    request: pytest.FixtureRequest, registry_ref: str, dockerd: DockerDaemon, tmp_path: Path
) -> Iterator[World]:
    how = str(request.param)
    data = tmp_path / "data"
    seed(data)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack = None
    service: dict[str, Any] = {"registry": "local", "environment": 1, "ready_timeout_s": 30}
    if how == "stack":
        stack = FakeStack(1, "registry", 1, stack_file(registry_ref, port, data), env={"TEAM": "platform"})
        service["stack"] = "registry"
    env = FakeEnvironment.docker(1, "local", socket=str(dockerd.socket_path))
    container = ""
    with FakePortainer(environments=[env], stacks=[stack] if stack else []) as portainer:
        docker = portainer._http_client(str(dockerd.socket_path))
        if stack is not None:
            compose_up(docker, stack)  # Portainer deployed it before the test
        else:
            container = run_container(dockerd, registry_ref, port, data)
            service |= {"container": container, "gc_mode": how.removeprefix("container-")}
        wait_for(url)
        settings = Settings.model_validate(
            {
                "portainer": {"url": portainer.url},
                "registries": [{"name": "local", "url": url}],
                "registry_services": [service],
                "slack": {"approvers": {"users": [APPROVER]}},
            }
        )
        app = build_app(
            settings=settings,
            secrets=Secrets(portainer_api_key=SecretStr(portainer.admin.api_keys[0])),
            state_dir=tmp_path / "state",
        )
        try:
            yield World(app, portainer, dockerd, stack, data, url, registry_ref, how)
        finally:
            app.close()
            if stack is not None:
                compose_down(docker, stack)
            else:
                dockerd.remove_container(container)


def wait_for(url: str) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered /v2/")


def call_tool(app: App, name: str, args: dict[str, Any], intent: str = "cleanup") -> dict[str, Any]:
    outcome = app.toolbox.call(
        name,
        json.dumps(args),
        user=REQUESTER,
        conversation="C0OPS:1",
        offered=app.toolbox.names(proposing={intent}),
    )
    assert outcome.ok, outcome.content
    loaded: dict[str, Any] = json.loads(outcome.content)
    return loaded


def approve(app: App, proposal_id: str) -> Any:
    decision = app.proposals.decide(
        proposal_id=proposal_id, user=APPROVER, decision="approve", authorizer=Authorizer(users=[APPROVER])
    )
    assert decision.outcome == "approved", decision
    return app.proposals.execute(proposal_id=proposal_id)


def delete_images(world: World) -> int:
    """Crawl, propose deleting two images, approve: the plan's reclaimable bytes."""
    world.app.refresh_snapshot()
    result = call_tool(world.app, "propose_deletion", {"images": ["shop/api:1.0", "shop/cli:3.0"]})
    proposal = world.app.proposals.get(result["proposal_id"])
    assert proposal is not None
    plan = world.app.plans.get(proposal.plan_id)
    execution = approve(world.app, proposal.id)
    assert execution.ran and execution.report.failed == 0, execution.report
    assert plan.reclaimable_bytes > 0
    return plan.reclaimable_bytes


def propose_gc(world: World) -> str:
    result = call_tool(world.app, "propose_garbage_collection", {"registry": "local", "reason": "free it"})
    assert result["proposal_id"], result
    return str(result["proposal_id"])


def push_works(world: World) -> None:
    with Seeder(world.url) as seeder:
        seeder.push_image(ImageSpec("shop/after", "1", created=NOW, layer_size=1000))


@pytest.mark.parametrize("world", ["stack", "container-readonly", "container-stop"], indirect=True)
def test_gc_frees_what_the_plan_predicted_and_the_registry_takes_writes_again(world: World) -> None:
    reclaimable = delete_images(world)
    on_disk = blob_bytes(world.data)
    proposal_id = propose_gc(world)
    proposal = world.app.proposals.get(proposal_id)
    assert proposal is not None and proposal.kind == "gc_run"
    assert world.app.proposals.card(proposal).view.bytes == reclaimable  # the card shows the plan's bytes
    writes = [(m, p) for m, p in world.portainer.log if m in ("PUT", "POST", "DELETE")]
    assert not writes  # proposing changed nothing

    report = run_gc(world, proposal_id)
    assert report.failed == 0, report
    assert report.predicted_bytes == reclaimable
    assert report.freed_bytes == reclaimable  # measured in the container through Portainer's exec
    assert on_disk - blob_bytes(world.data) == reclaimable  # and by the test on the disk itself
    assert "runs read-write again" in report.state
    if world.stack is not None:
        assert world.stack.content == stack_file(world.image, port_of(world), world.data)
        assert world.stack.env == {"TEAM": "platform"}  # PUT replaces Env: Regent sent it back
        assert world.portainer.count("/api/stacks/1", method="PUT") == 2  # read-only, then restored
    if world.how != "container-stop":
        assert world.portainer.count("/api/endpoints/1/docker/exec/*/start") >= 4  # root, sizes, gc, sizes
    assert not [c for c in world.dockerd.containers() if "regent-gc" in c["Names"][0]]  # no helper left
    push_works(world)
    kept = httpx.get(f"{world.url}/v2/shop/api/manifests/1.1", headers={"Accept": "*/*"})
    assert kept.status_code == 200


def run_gc(world: World, proposal_id: str) -> GcReport:
    execution = approve(world.app, proposal_id)
    assert execution.ran
    return GcReport.model_validate(execution.report.model_dump())


def port_of(world: World) -> int:
    return int(world.url.rsplit(":", 1)[1])


def registry_answers(world: World) -> bool:
    return httpx.get(f"{world.url}/v2/", timeout=5).status_code == 200


def inject(world: World, step: str) -> None:
    """A Portainer failure at one step: the read-only switch, the GC exec, or the restore (once/always)."""
    portainer = world.portainer
    if step == "switch":
        portainer.fail_next("/api/stacks/1", method="PUT")
    elif step == "collect":  # the first exec after the switch is garbage-collect
        exec_path = "/api/endpoints/1/docker/containers/*/exec"
        portainer.run_before(
            "/api/stacks/1", lambda: portainer.fail_next(exec_path, method="POST"), method="PUT"
        )
    else:
        times = 1 if step == "restore-once" else 10
        portainer.run_before(
            "/api/stacks/1",
            lambda: portainer.fail_next("/api/stacks/1", method="PUT", times=times),
            method="PUT",
        )


@pytest.mark.parametrize("step", ["switch", "collect", "restore-once", "restore-always"])
def test_a_failure_at_each_step_leaves_the_registry_running_and_says_so(world: World, step: str) -> None:
    reclaimable = delete_images(world)
    on_disk = blob_bytes(world.data)
    proposal_id = propose_gc(world)
    inject(world, step)
    report = run_gc(world, proposal_id)
    statuses = {r.op: r.status for r in report.results}
    assert registry_answers(world)  # running, whatever failed
    if step == "restore-always":
        assert statuses == {"switch": "done", "collect": "done", "restore": "failed"}
        assert "may not be restored" in report.state and READONLY_ENV in report.state  # and how to fix it
        assert world.stack is not None and READONLY_ENV in world.stack.content
        with pytest.raises(SeedError):  # read-only, as the report says
            push_works(world)
        return
    assert statuses["restore"] == "done" and "runs read-write again" in report.state
    assert world.stack is not None and READONLY_ENV not in world.stack.content
    if step == "switch":
        assert statuses["switch"] == "failed" and statuses["collect"] == "skipped"
        assert blob_bytes(world.data) == on_disk  # nothing collected
    elif step == "collect":
        assert statuses == {"switch": "done", "collect": "failed", "restore": "done"}
        assert blob_bytes(world.data) == on_disk
        assert report.freed_bytes is None
    else:
        assert report.failed == 0 and report.freed_bytes == reclaimable
    push_works(world)


def test_regent_apply_runs_the_gc_proposal_from_the_command_line(world: World, tmp_path: Path) -> None:
    """ "Approve in Slack or `regent apply`": the operator's path, as a subprocess on the same state."""
    reclaimable = delete_images(world)
    proposal = world.app.proposals.get(propose_gc(world))
    assert proposal is not None
    config = tmp_path / "regent.yml"
    config.write_text(
        json.dumps(
            {
                "portainer": {"url": world.portainer.url},
                "registries": [{"name": "local", "url": world.url}],
                "registry_services": [
                    {"registry": "local", "environment": 1, "stack": "registry", "ready_timeout_s": 30}
                ],
            }
        )
    )
    env = {"REGENT_CONFIG": str(config), "PORTAINER_API_KEY": world.portainer.admin.api_keys[0]}
    state = tmp_path / "state"  # the world's app state: the proposal is there
    shown = run_regent("apply", proposal.change_id, state=state, env=env)
    assert shown.returncode == 2 and "add --yes to run exactly these steps" in shown.stderr, shown.stderr
    assert "Run `registry garbage-collect" in shown.stdout and world.portainer.count("*", method="PUT") == 0
    applied = run_regent("apply", proposal.change_id, "--yes", state=state, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"({reclaimable} bytes; predicted" in applied.stdout
    assert "The registry runs read-write again and answers /v2/." in applied.stdout
    again = run_regent("apply", proposal.change_id, "--yes", state=state, env=env)
    assert "already executed" in again.stdout + again.stderr
