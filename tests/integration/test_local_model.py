"""The real local model: llama-server + Qwen2.5-Coder-1.5B from the cache returns parsed tool calls.

Locally this skips when the cache is not populated (`python -m bot.demo.local_model setup` fills it);
with REGENT_REQUIRE_REAL=1 it sets the model up itself (~10 min the first time) and a failure fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from bot.demo.local_model import ModelNotReady, find_local_model, running_local_model, setup_local_model
from bot.demo.model_cache import ModelSetupError, resolve_cache_dir
from tests.conftest import REQUIRE_REAL_ENV

pytestmark = [pytest.mark.real, pytest.mark.model]

# The 1.5B model calls the tool again after its result unless told plainly not to (reference/local-llm.md).
SYSTEM = (
    "You answer questions about container images. Call a tool to get facts. When a tool response is "
    "present, do not call the tool again: answer the question from the tool response in one sentence."
)
IMAGE_SIZE_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_image_size",
        "description": "Size in bytes of one image in the registry.",
        "parameters": {
            "type": "object",
            "properties": {
                "repository": {"type": "string", "description": "Repository name, e.g. team/app"},
                "tag": {"type": "string", "description": "Tag, e.g. 1.0"},
            },
            "required": ["repository", "tag"],
        },
    },
}
QUESTION = "How big is the image shop/api:1.4?"


def model_cache_dir() -> Path:
    """The cache the runner's CLI uses (tests may read the environment; bot code may not)."""
    return resolve_cache_dir(env=os.environ, home=Path.home())


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    """A llama-server from the cache for this module; REGENT_REQUIRE_REAL=1 sets it up or fails."""
    cache = model_cache_dir()
    try:
        find_local_model(cache=cache)
    except ModelNotReady as error:
        if os.environ.get(REQUIRE_REAL_ENV) != "1":
            pytest.skip(str(error))
        try:
            setup_local_model(cache=cache)
        except ModelSetupError as setup_error:
            pytest.fail(f"{setup_error} ({REQUIRE_REAL_ENV}=1: a missing real part is a failure, not a skip)")
    with running_local_model(cache=cache) as url:
        yield url


@pytest.fixture(scope="module")
def client(model_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=model_url, api_key="local", timeout=240, max_retries=0) as openai_client:
        yield openai_client


# Setting the model up from scratch downloads 1.1 GB and compiles for ~8 min on 2 cores.
@pytest.mark.timeout(1800)
def test_a_tool_call_comes_back_parsed_and_the_answer_uses_its_result(client: OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    first = client.chat.completions.create(
        model="local",
        messages=messages,
        tools=[IMAGE_SIZE_TOOL],
        temperature=0,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_image_size"
    assert json.loads(call.function.arguments) == {"repository": "shop/api", "tag": "1.4"}
    assert not choice.message.content

    # Second turn: the call goes back as the OpenAI SDK sends it (arguments as a JSON string).
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"size_bytes": 48_234_496})},
    ]
    second = client.chat.completions.create(
        model="local",
        messages=messages,
        tools=[IMAGE_SIZE_TOOL],
        temperature=0,
    )
    answer = second.choices[0]
    assert answer.finish_reason == "stop", answer.message
    assert not answer.message.tool_calls
    content = answer.message.content or ""
    # The model may group digits oddly ("482,344,96") or convert units: any rendering of the size will do.
    assert "48234496" in content.replace(",", "") or "48.2" in content or "46" in content, content


def test_arguments_sent_back_are_not_double_encoded(model_url: str) -> None:
    # /apply-template renders the prompt the model would see, without generating anything.
    arguments = json.dumps({"repository": "shop/api", "tag": "1.4"})
    messages = [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_image_size", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"size_bytes": 1}'},
    ]
    root = model_url.removesuffix("/v1")
    response = httpx.post(f"{root}/apply-template", json={"messages": messages, "tools": [IMAGE_SIZE_TOOL]})
    response.raise_for_status()
    prompt = response.json()["prompt"]
    expected = (
        '```json\n{"name": "get_image_size", "arguments": {"repository": "shop/api", "tag": "1.4"}}\n```'
    )
    assert expected in prompt, prompt
    assert '\\"repository\\"' not in prompt
