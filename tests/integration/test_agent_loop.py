"""The agent end to end: the real openai SDK against the fake OpenAI server, the real registry behind it.

What reaches the fake is what a real model would see, so these tests check the loop's promises on the
recorded requests: tool results carry the registry's real facts, errors go back to be corrected, the
step limit holds with a tool-less last step, and a dead endpoint becomes a clear reply.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App
from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tests.fakes.openai_server import FakeOpenAI, tool_messages, tool_names
from tests.integration.agent_harness import answer_with_size, call, make_runtime

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def seeded(registry: RegistryServer, seeder: Seeder) -> RegistryServer:
    seed_sample(seeder, now=NOW)
    return registry


@pytest.fixture
def runtime(seeded: RegistryServer, fake_llm: FakeOpenAI, tmp_path: Path) -> Iterator[App]:
    rt = make_runtime(tmp_path, llm_url=fake_llm.base_url, registry_urls=[seeded.url], max_steps=5)
    rt.refresh_snapshot()
    yield rt
    rt.close()


def registry_image_size(registry: RegistryServer, http: httpx.Client, repository: str, tag: str) -> int:
    """Config plus layer bytes, straight from the registry's manifest (independent of Regent's crawl)."""
    response = http.get(f"{registry.url}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
    response.raise_for_status()
    manifest = response.json()
    return int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in manifest["layers"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_question_is_answered_from_the_registrys_real_facts(
    seeded: RegistryServer,
    seeder: Seeder,
    fake_llm: FakeOpenAI,
    dockerd: DockerDaemon,
    http_client: httpx.Client,
    tmp_path: Path,
    stream: bool,
) -> None:
    reference = f"{seeded.host}/shop/api:1.4.0"
    dockerd.pull(reference)
    container = dockerd.run(reference, name=f"shop-api-{'sse' if stream else 'json'}")
    try:
        rt = make_runtime(
            tmp_path,
            llm_url=fake_llm.base_url,
            registry_urls=[seeded.url],
            docker_hosts=[dockerd.docker_host],
            stream=stream,
        )
        rt.refresh_snapshot()
        fake_llm.push(call("get_image", image="shop/api:1.4.0"), answer_with_size)
        statuses: list[str] = []
        assert rt.agent is not None
        reply = rt.agent.answer(
            conversation="C1:1700000000.0001",
            user="U1",
            text="How big is shop/api:1.4.0?",
            status=statuses.append,
        )
    finally:
        dockerd.remove_container(container)
    digest = seeder.tagged()[("shop/api", "1.4.0")]
    size = registry_image_size(seeded, http_client, "shop/api", "1.4.0")
    first, second = fake_llm.requests
    assert "get_image" in tool_names(first) and first.get("stream", False) is stream
    (result_message,) = tool_messages(second)
    result = json.loads(result_message["content"])
    assert result_message["tool_call_id"] == second["messages"][-3]["tool_calls"][0]["id"]
    assert second["messages"][-1]["role"] == "system"  # after the results: answer if they suffice
    assert (result["digest"], result["size_bytes"]) == (digest, size)
    assert [r["name"] for r in result["runs_on"]] == [f"shop-api-{'sse' if stream else 'json'}"]
    assert result["runs_on"][0]["state"] == "running"
    assert digest in reply.text and f"{size:,} bytes" in reply.text
    assert reply.error is None and not reply.truncated and reply.proposal_ids == []
    assert "Looking up shop/api:1.4.0…" in statuses
    (entry,) = rt.audit.entries(kind="tool_call")
    assert entry.actor == "U1" and entry.payload["tool"] == "get_image"
    assert entry.payload["arguments"] == {"image": "shop/api:1.4.0"}
    assert entry.payload["conversation"] == "C1:1700000000.0001"
    assert entry.payload["reference"] == reply.reference
    rt.close()


def test_invalid_arguments_go_back_to_the_model_to_correct(runtime: App, fake_llm: FakeOpenAI) -> None:
    fake_llm.push(
        call("search_images", repository="shop/*", limit=500),
        {"tool_calls": [{"name": "get_image", "arguments": '{"image": "shop/web:2.1.0"'}]},
        call("get_image", image="shop/web:2.1.0"),
        answer_with_size,
    )
    assert runtime.agent is not None
    reply = runtime.agent.answer(conversation="cli", user="cli:test", text="How big is shop/web?")
    errors = [json.loads(tool_messages(r)[-1]["content"]) for r in fake_llm.requests[1:3]]
    assert errors[0]["error"] == "invalid arguments for search_images"
    assert errors[0]["problems"] == ["limit: Input should be less than or equal to 50 (got 500)"]
    assert errors[1]["error"].startswith("arguments are not valid JSON")
    assert "shop/web:2.1.0" in reply.text and reply.error is None


def test_an_unknown_tool_gets_the_list_of_real_ones(runtime: App, fake_llm: FakeOpenAI) -> None:
    fake_llm.push(call("delete_registry", name="all"), {"content": "I can only read."})
    assert runtime.agent is not None
    reply = runtime.agent.answer(conversation="cli", user="cli:test", text="What registries are there?")
    error = json.loads(tool_messages(fake_llm.requests[1])[-1]["content"])
    assert error["error"] == "there is no tool named 'delete_registry'"
    assert "list_registries" in error["hint"] and "propose_deletion" not in error["hint"]
    assert reply.text == "I can only read."


def test_a_model_that_never_stops_is_cut_off_with_a_tool_less_last_step(
    runtime: App, fake_llm: FakeOpenAI
) -> None:
    searches = [call("search_images", repository=f"shop/{n}*") for n in range(5)]
    fake_llm.push(*searches)
    assert runtime.agent is not None
    reply = runtime.agent.answer(conversation="cli", user="cli:test", text="List shop images")
    assert len(fake_llm.requests) == 5  # max_steps
    assert all(tool_names(r) for r in fake_llm.requests[:4])
    assert "tools" not in fake_llm.requests[-1] and "tool_choice" not in fake_llm.requests[-1]
    assert fake_llm.requests[-1]["messages"][-1]["role"] == "system"
    assert "Do not call any tool" in fake_llm.requests[-1]["messages"][-1]["content"]
    assert reply.truncated and "stopped after 5 steps" in reply.text and reply.error is None


def test_a_repeated_call_gets_an_answer_step_without_tools(runtime: App, fake_llm: FakeOpenAI) -> None:
    # What a 1.5B model does after a result: the same call again. The repeat is dropped, not re-run,
    # and the next request offers no tools and asks for the answer.
    fake_llm.push(call("search_images", repository="shop/*"), call("search_images", repository="shop/*"))
    fake_llm.push({"content": "shop/api and shop/web."})
    assert runtime.agent is not None
    reply = runtime.agent.answer(conversation="cli", user="cli:test", text="List shop images")
    assert len(fake_llm.requests) == 3 and reply.text == "shop/api and shop/web." and not reply.truncated
    assert "tools" not in fake_llm.requests[2]
    assert "Do not call any tool" in fake_llm.requests[2]["messages"][-1]["content"]
    assert len(tool_messages(fake_llm.requests[2])) == 1  # the repeat added nothing to the conversation
    assert len(runtime.audit.entries(kind="tool_call")) == 1


def test_a_tool_call_written_as_the_answer_becomes_the_tools_headlines(
    runtime: App, fake_llm: FakeOpenAI
) -> None:
    fake_llm.push(call("get_image", image="shop/api:1.4.0"), call("get_image", image="shop/api:1.4.0"))
    written = '```json\n{"name": "get_image", "arguments": {"image": "shop/api:1.4.0"}}\n```'
    fake_llm.push({"content": written})
    assert runtime.agent is not None
    reply = runtime.agent.answer(conversation="cli", user="cli:test", text="How big is shop/api:1.4.0?")
    headline = json.loads(tool_messages(fake_llm.requests[-1])[0]["content"])["headline"]
    assert reply.error == "the language model did not phrase an answer"
    assert headline in reply.text and "```" not in reply.text


def test_parallel_tool_calls_each_get_their_result(runtime: App, fake_llm: FakeOpenAI) -> None:
    both = {
        "tool_calls": [
            {"name": "list_registries", "arguments": {}},
            {"name": "registry_usage", "arguments": {}},
        ]
    }
    fake_llm.push(both, {"content": "done"})
    assert runtime.agent is not None
    runtime.agent.answer(conversation="cli", user="cli:test", text="How full is the registry?")
    second = fake_llm.requests[1]
    ids = [c["id"] for c in second["messages"][-4]["tool_calls"]]  # the call, 2 results, the note
    assert [m["tool_call_id"] for m in tool_messages(second)] == ids
    usage = json.loads(tool_messages(second)[1]["content"])
    assert usage["registries"][0]["shared_layer_savings_bytes"] > 0


def test_memory_is_per_thread_and_bounded(
    seeded: RegistryServer, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    rt = make_runtime(tmp_path, llm_url=fake_llm.base_url, registry_urls=[seeded.url])
    rt.refresh_snapshot()
    assert rt.agent is not None
    for number in range(12):
        fake_llm.push({"content": f"answer {number}"})
        rt.agent.answer(conversation="C1:1", user="U1", text=f"question {number}")
    fake_llm.push({"content": "other"})
    rt.agent.answer(conversation="C2:2", user="U1", text="question elsewhere")
    last_in_thread = [m["content"] for m in fake_llm.requests[11]["messages"][2:]]  # after the 2 system
    assert last_in_thread[:2] == ["question 1", "answer 1"] and last_in_thread[-1] == "question 11"
    assert len(last_in_thread) == 2 * 10 + 1  # llm.memory_turns earlier turns, then the question
    other = fake_llm.requests[-1]["messages"]
    assert [m["role"] for m in other] == ["system", "system", "user"]  # instructions, context, question
    rt.close()


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"status": 500}, "the language model endpoint failed (HTTP 500)"),
        ({"status": 401}, "the language model endpoint rejected the API key"),
        ({"delay": 3.0, "content": "too late"}, "did not answer within 1 s"),
    ],
    ids=["500", "401", "timeout"],
)
def test_an_llm_failure_becomes_a_clear_reply(
    fake_llm: FakeOpenAI, tmp_path: Path, step: dict[str, Any], expected: str
) -> None:
    rt = make_runtime(tmp_path, llm_url=fake_llm.base_url, request_timeout_s=1.0)
    fake_llm.push(step)
    assert rt.agent is not None
    reply = rt.agent.answer(conversation="cli", user="cli:test", text="Anything stale?")
    assert reply.error is not None and expected in reply.error
    assert expected in reply.text and reply.reference in reply.text
    assert "Traceback" not in reply.text and "127.0.0.1" not in reply.text
    rt.close()


def test_a_stream_cut_mid_answer_becomes_a_clear_reply(fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, llm_url=fake_llm.base_url, stream=True)
    fake_llm.push({"content": "The biggest repository is shop/api with", "cut": True})
    assert rt.agent is not None
    reply = rt.agent.answer(conversation="cli", user="cli:test", text="Biggest repository?")
    assert reply.error is not None and "stream ended early" in reply.error
    assert "shop/api with" not in reply.text  # a half answer is not passed off as an answer
    rt.close()


def test_an_unreachable_endpoint_becomes_a_clear_reply(tmp_path: Path) -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url  # the port is closed once the server stops
    rt = make_runtime(tmp_path, llm_url=url)
    assert rt.agent is not None
    reply = rt.agent.answer(conversation="cli", user="cli:test", text="hello")
    assert (
        reply.error
        == "I could not get an answer from the language model: cannot reach the language model endpoint."
    )
    assert reply.proposal_ids == [] and "Traceback" not in reply.text
    rt.close()


def test_a_slow_tool_times_out_and_the_model_hears_about_it(fake_llm: FakeOpenAI, tmp_path: Path) -> None:
    agent = make_runtime(tmp_path / "slow", llm_url=fake_llm.base_url, tool_timeout_s=0.3)
    slow_snapshot_source = agent.toolbox.context.snapshot

    def slow() -> Any:
        time.sleep(1.0)
        return slow_snapshot_source()

    agent.toolbox.context.snapshot = slow
    fake_llm.push(call("list_registries"), {"content": "Sorry, that took too long."})
    assert agent.agent is not None
    reply = agent.agent.answer(conversation="cli", user="cli:test", text="registries?")
    error = json.loads(tool_messages(fake_llm.requests[1])[-1]["content"])
    assert error["error"] == "list_registries did not finish within 0.3 s"
    assert reply.text == "Sorry, that took too long."
    agent.close()
