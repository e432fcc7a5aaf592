"""Tokens sent per question do not grow with the registry: 100 tags and 20,000 tags cost nearly the same.

The snapshots are synthetic (built directly, saved through the real snapshot store); the question runs
through the real agent, the real openai SDK and the fake server, which records every request body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAI, estimate_tokens
from tests.fakes.synthetic import synthetic_snapshot
from tests.integration.agent_harness import call, make_runtime

SCRIPT: list[dict[str, Any]] = [
    call("list_registries"),
    call("search_images", sort="largest", limit=50),
    call("find_stale_images", older_than_days=90),
    call("registry_usage"),
    call("get_image", image="team0/app0000:v9"),
    {"content": "Here is what I found."},
]


def tokens_for(tags: int, state: Path) -> tuple[int, int]:
    """Estimated prompt tokens (sum over the question's requests) and the largest single request."""
    with FakeOpenAI(list(SCRIPT)) as fake:
        runtime = make_runtime(state, llm_url=fake.base_url)
        runtime.snapshots.save(synthetic_snapshot(tags=tags))
        assert runtime.agent is not None
        reply = runtime.agent.answer(conversation="cli", user="cli:test", text="Where is our space going?")
        runtime.close()
        assert reply.error is None and len(fake.requests) == len(SCRIPT)
        sizes = [estimate_tokens(body) for body in fake.requests]
    return sum(sizes), max(sizes)


def test_tokens_per_question_are_nearly_equal_for_100_and_20000_tags(tmp_path: Path) -> None:
    small_total, small_max = tokens_for(100, tmp_path / "small")
    big_total, big_max = tokens_for(20_000, tmp_path / "big")
    print(
        f"\ntokens per question: 100 tags {small_total} (max request {small_max}); "
        f"20,000 tags {big_total} (max request {big_max}); ratio {big_total / small_total:.3f}"
    )
    assert big_total <= small_total * 1.10
    assert big_max <= 3_000 + 5 * 2_000  # system prompt and tools, plus five results of at most ~2,000 tokens
