"""`mode: read-only` for the LLM loop and the CLI: proposing tools are never offered (the fake OpenAI
server's recorded requests say so), a call to one anyway is refused with the reason, the answer says why
even if the model does not, and `regent apply` refuses (exit 2) without touching the registry."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tests.cli import run_regent
from tests.fakes.openai_server import FakeOpenAI, tool_messages, tool_names
from tests.integration.agent_harness import call, make_runtime
from tools.registry.client import RegistryClient
from tools.registry.http import pooled_client

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
PROPOSING = {"propose_deletion", "propose_retention_cleanup", "propose_user_suspension", "propose_ticket"}
POLICY = """\
policies:
  - name: cleanup
    registry: "*"
    repositories: ["**"]
    keep:
      - most_recent: 1
      - tags: ["latest"]
    delete:
      - older_than_days: 90
"""


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _runtime(tmp_path: Path, llm: FakeOpenAI, registry: RegistryServer, mode: str) -> App:
    settings = Settings.model_validate({"mode": mode})
    runtime = make_runtime(tmp_path, llm_url=llm.base_url, registry_urls=[registry.url], settings=settings)
    runtime.refresh_snapshot()
    return runtime


def test_no_proposing_tools_are_offered_and_the_answer_says_why(
    registry: RegistryServer, seeder: Seeder, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    runtime = _runtime(tmp_path, fake_llm, registry, "read-only")
    try:
        fake_llm.push(
            call("find_stale_images"),
            call("propose_deletion", images=["shop/api:1.4.0"]),  # a model that tries anyway
            {"content": "These images are stale."},  # and does not mention the mode
        )
        assert runtime.agent is not None
        reply = runtime.agent.answer(
            conversation="C1:1", user="U1", text="Please delete the stale images in shop/api"
        )
        assert len(fake_llm.requests) == 3
        for request in fake_llm.requests:
            offered = tool_names(request)
            assert offered and PROPOSING.isdisjoint(offered), offered
        system = fake_llm.requests[0]["messages"][0]["content"]
        assert "No proposing tools are available: Regent runs in read-only mode" in system
        refusal = json.loads(tool_messages(fake_llm.requests[2])[-1]["content"])
        assert refusal["error"].startswith("Regent runs in read-only mode")
        assert reply.proposal_ids == [] and runtime.proposals.pending() == []
        assert "These images are stale." in reply.text and "read-only mode" in reply.text
        assert "mode: cleanup" in reply.text  # what an administrator can change
    finally:
        runtime.close()


def test_a_question_that_asks_for_nothing_gets_no_mode_note(
    registry: RegistryServer, seeder: Seeder, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    runtime = _runtime(tmp_path, fake_llm, registry, "read-only")
    try:
        fake_llm.push({"content": "You have 1 registry."})
        assert runtime.agent is not None
        reply = runtime.agent.answer(conversation="C1:2", user="U1", text="How many registries are there?")
        assert reply.text == "You have 1 registry."
    finally:
        runtime.close()


def test_cleanup_mode_still_offers_them(
    registry: RegistryServer, seeder: Seeder, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    runtime = _runtime(tmp_path, fake_llm, registry, "cleanup")
    try:
        fake_llm.push({"content": "Say which images."})
        assert runtime.agent is not None
        runtime.agent.answer(conversation="C1:3", user="U1", text="Please delete the stale images")
        assert "propose_retention_cleanup" in tool_names(fake_llm.requests[0])  # a broad cleanup
    finally:
        runtime.close()


def test_regent_apply_refuses_in_read_only_mode(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed_sample(seeder, now=dt.datetime.now(dt.UTC), runnable=False)
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    planned = run_regent("plan", "--policy", str(policy), "--registry", registry.url, "--json", state=state)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["items"]
    config = tmp_path / "regent.yml"
    config.write_text("mode: read-only\n")
    refused = run_regent(
        "apply", plan["plan_id"], "--yes", "--config", str(config), "--registry", registry.url, state=state
    )
    assert refused.returncode == 2, refused.stderr
    assert f"cannot apply {plan['plan_id']}: Regent runs in read-only mode" in refused.stderr
    assert "Traceback" not in refused.stderr
    with pooled_client(connections=2) as http:
        client = RegistryClient(registry.url, http=http)
        for item in plan["items"]:
            assert client.head_manifest(item["repository"], item["digest"]) is not None
