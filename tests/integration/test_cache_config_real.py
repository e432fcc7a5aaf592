"""A pull-through cache configuration, applied to a real registry's stack under the fake Portainer.

The cache is Debian's docker-registry in a container (bot/demo/registry_image.py), a Compose stack the
fake Portainer deploys on the test dockerd with host networking; the upstream is a second local
docker-registry. The proposal shows the stack file's diff; a stack file changed after the proposal
refuses the run; the applied file makes the registry a working mirror (dockerd pulls the upstream's
image through it); the revert proposal puts the old file back.
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
from bot.demo.images import ImageSpec
from bot.demo.registry_image import DATA_DIR
from bot.demo.registry_server import RegistryServer, free_port
from bot.demo.seed import ALPINE_3_19_1, Seeder
from bot.errors import SeedError
from bot.slack.cards import card_message
from tests.fakes.portainer import FakeEnvironment, FakePortainer, FakeStack
from tests.fakes.portainer_exec import compose_down, compose_up
from tests.fakes.slack_api import check_message
from tests.integration.test_gc_real import registry_ref, wait_for

pytestmark = pytest.mark.real
__all__ = ["registry_ref"]  # the module-scoped fixture: the registry image, pulled into the test dockerd

REQUESTER, APPROVER = "U0REQ", "U0APP"
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
PROBE = "library/alpine:3.19"


def stack_file(image: str, port: int, data: Path) -> str:
    return (
        "# the team's registry; Regent may make it a cache\n"
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
    stack: FakeStack
    original: str
    url: str
    host: str
    upstream: RegistryServer
    upstream_digest: str


@pytest.fixture
def world(registry_ref: str, dockerd: DockerDaemon, tmp_path: Path) -> Iterator[World]:
    with RegistryServer() as upstream, Seeder(upstream.url) as seeder:
        pushed = seeder.push_image(
            ImageSpec("library/alpine", "3.19", created=NOW, base=ALPINE_3_19_1, runnable=True)
        )
        port = free_port()
        data = tmp_path / "cache-data"
        data.mkdir()
        original = stack_file(registry_ref, port, data)
        stack = FakeStack(7, "cache", 1, original, env={"TEAM": "platform"})
        env = FakeEnvironment.docker(1, "local", socket=str(dockerd.socket_path))
        with FakePortainer(environments=[env], stacks=[stack]) as portainer:
            docker = portainer._http_client(str(dockerd.socket_path))
            compose_up(docker, stack)
            url = f"http://127.0.0.1:{port}"
            wait_for(url)
            settings = Settings.model_validate(
                {
                    "portainer": {"url": portainer.url},
                    "registries": [{"name": "cache", "url": url}],
                    "registry_services": [
                        {"registry": "cache", "environment": 1, "stack": "cache", "ready_timeout_s": 30}
                    ],
                    "slack": {"approvers": {"users": [APPROVER]}},
                }
            )
            app = build_app(
                settings=settings,
                secrets=Secrets(portainer_api_key=SecretStr(portainer.admin.api_keys[0])),
                state_dir=tmp_path / "state",
            )
            try:
                app.refresh_snapshot()
                yield World(
                    app,
                    portainer,
                    dockerd,
                    stack,
                    original,
                    url,
                    f"127.0.0.1:{port}",
                    upstream,
                    pushed.digest,
                )
            finally:
                app.close()
                compose_down(docker, stack)


def call_tool(app: App, name: str, args: dict[str, Any]) -> dict[str, Any]:
    outcome = app.toolbox.call(
        name,
        json.dumps(args),
        user=REQUESTER,
        conversation="C0OPS:1",
        offered=app.toolbox.names(proposing={"configuration"}),
    )
    assert outcome.ok, outcome.content
    loaded: dict[str, Any] = json.loads(outcome.content)
    return loaded


def propose_cache(world: World) -> str:
    args = {"registry": "cache", "upstream": world.upstream.url, "probe_image": PROBE, "reason": "mirror it"}
    return str(call_tool(world.app, "propose_cache_configuration", args)["proposal_id"])


def approve(world: World, proposal_id: str) -> Any:
    decision = world.app.proposals.decide(
        proposal_id=proposal_id, user=APPROVER, decision="approve", authorizer=Authorizer(users=[APPROVER])
    )
    assert decision.outcome == "approved", decision
    execution = world.app.proposals.execute(proposal_id=proposal_id)
    assert execution.ran
    return execution


def puts(world: World) -> int:
    return world.portainer.count(f"/api/stacks/{world.stack.id}", method="PUT")


def test_the_proposal_shows_the_stack_file_diff_and_changes_nothing(world: World) -> None:
    proposal = world.app.proposals.get(propose_cache(world))
    assert proposal is not None and proposal.kind == "stack_update"
    card = world.app.proposals.card(proposal)
    diff = card.view.preformatted
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == [f'+      REGISTRY_PROXY_REMOTEURL: "{world.upstream.url}"']  # one line, comments kept
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert card.view.title == f"Proposal: Make cache a pull-through cache of {world.upstream.url}"
    assert any("refuses pushes" in warning for warning in card.view.warnings)
    message = card_message(card).payload()
    assert check_message(message) is None and "REGISTRY_PROXY_REMOTEURL" in json.dumps(message)
    assert puts(world) == 0 and world.stack.content == world.original


def test_a_stack_file_changed_after_the_proposal_refuses_execution(world: World) -> None:
    proposal_id = propose_cache(world)
    edited = world.original.replace("# the team's registry", "# the team's registry (edited in Portainer)")
    world.stack.content = edited  # someone changed it in Portainer after the proposal
    execution = approve(world, proposal_id)
    results = {r.op: (r.status, r.reason) for r in execution.report.results}
    assert (
        results["update_stack"][0] == "skipped" and "changed since the proposal" in results["update_stack"][1]
    )
    assert results["verify"] == ("skipped", "the stack file was not changed")
    assert "The stack file was not changed." in execution.report.message
    assert puts(world) == 0 and world.stack.content == edited


def test_the_applied_stack_makes_a_working_mirror_and_the_revert_puts_the_file_back(world: World) -> None:
    proposal_id = propose_cache(world)
    proposal = world.app.proposals.get(proposal_id)
    assert proposal is not None
    execution = approve(world, proposal_id)
    report = execution.report
    assert report.failed == 0, report.model_dump_json(indent=1)
    results = {r.op: (r.status, r.reason) for r in report.results}
    assert results["update_stack"][0] == "done"
    assert results["verify"][0] == "done" and world.upstream_digest[:19] in results["verify"][1]
    assert f"/regent revert {proposal.change_id}" in report.message  # the old file is kept for a revert
    assert "REGISTRY_PROXY_REMOTEURL" in world.stack.content and world.stack.env == {"TEAM": "platform"}

    # A real client pulls the upstream's image through the cache.
    world.dockerd.pull(f"{world.host}/{PROBE}")
    pulled = [
        img for img in world.dockerd.images() if any(world.host in d for d in img.get("RepoDigests") or [])
    ]
    assert any(d.endswith(world.upstream_digest) for img in pulled for d in img["RepoDigests"])
    with pytest.raises(SeedError), Seeder(world.url) as seeder:  # a cache takes no pushes
        seeder.push_image(ImageSpec("team/app", "1", created=NOW, layer_size=500))

    revert = call_tool(world.app, "propose_stack_revert", {"change_id": proposal.change_id})
    revert_card = world.app.proposals.card(world.app.proposals.get(revert["proposal_id"]))  # type: ignore[arg-type]
    removed = [line for line in revert_card.view.preformatted.splitlines() if line.startswith("-      ")]
    assert removed == [f'-      REGISTRY_PROXY_REMOTEURL: "{world.upstream.url}"']
    reverted = approve(world, revert["proposal_id"])
    assert reverted.report.failed == 0, reverted.report
    assert world.stack.content == world.original  # byte for byte
    with Seeder(world.url) as seeder:  # a plain registry again
        seeder.push_image(ImageSpec("team/app", "1", created=NOW, layer_size=500))
    assert httpx.get(f"{world.url}/v2/", timeout=5).status_code == 200
