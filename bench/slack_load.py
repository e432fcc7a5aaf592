"""Slack load benchmark: N concurrent mentions while the (fake) LLM takes 2 s per step; ack latency.

    .venv/bin/python bench/slack_load.py [--mentions 50] [--llm-delay 2.0] [--workers 8] [--socket]
                                         [--stream [--no-stream-api]]

`regent serve`'s composition (runtime + SlackService) runs against the fake Slack Web API and the fake
OpenAI server (tests/fakes/openai_server.py); each answer is two LLM steps (a tool call, then the text).
Mentions arrive as signed HTTP requests (or Socket Mode envelopes with --socket), all at once; during the
load a `/regent help` command and an Approve click are sent too. Prints ack latency p50/p99/max, the
command and click ack times, when the last answer was posted, and the tokens one question sends to the LLM
on a 100-tag and on a 20,000-tag registry (synthetic snapshots; `--no-tokens` skips that part). With
`--stream` the LLM streams a longer answer (SSE, 16 characters every 20 ms) and Slack receives it as it is
written (chat.startStream/appendStream/stopStream); `--no-stream-api` makes the fake Slack answer
`unknown_method` to those, so answers fall back to a placeholder updated at most once a second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_server import FakeOpenAI, tool_messages  # noqa: E402
from tests.fakes.slack_api import Call  # noqa: E402
from tests.fakes.slack_socket import FakeSocketMode  # noqa: E402
from tests.integration.slack.harness import APPROVER, SlackHarness, start_slack  # noqa: E402
from tests.integration.slack.test_socket_mode import command_payload, mention_payload  # noqa: E402

SHORT_ANSWER = "There are no registries yet."
LONG_ANSWER = (
    "There are no registries yet, so there is nothing to measure or clean up. Add one under `registries` "
    "in regent.yml (or let Portainer list its own), run `regent inventory`, and ask again: I will then "
    "know every repository, tag and layer, where each image runs, and what a retention policy would free."
)

SLACK_COUNTED = (
    "chat.postMessage",
    "chat.update",
    "chat.delete",
    "chat.startStream",
    "chat.appendStream",
    "chat.stopStream",
)


def llm_step(delay: float, *, stream: bool) -> Any:
    """Every request: a tool call first, the answer once a tool result is in the conversation."""
    answer = {"content": LONG_ANSWER, "chunk_delay": 0.02} if stream else {"content": SHORT_ANSWER}

    def step(body: dict[str, Any]) -> dict[str, Any]:
        if tool_messages(body):
            return {"delay": delay, **answer, "repeat": True}
        return {"delay": delay, "tool_calls": [{"name": "list_registries", "arguments": {}}], "repeat": True}

    return step


def wait_answers(harness: SlackHarness, args: argparse.Namespace) -> list[Call]:
    """The call that completed each answer: a stopped stream, or the placeholder's final update."""
    if args.stream and not args.no_stream_api:
        return harness.fake.wait_for("chat.stopStream", args.mentions, timeout=600)
    tail = (LONG_ANSWER if args.stream else SHORT_ANSWER)[-30:]

    def final(call: Call) -> bool:  # partial updates (fallback) end with " …"
        text = json.dumps(call.args)
        return tail in text and f"{tail} \u2026" not in text

    return harness.fake.wait_for("chat.update", args.mentions, timeout=600, where=final)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def fire_http(harness: SlackHarness, count: int) -> list[float]:
    """Send `count` mentions at once over HTTP; each latency is request start to response."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def one(i: int) -> None:
        barrier.wait()
        started = time.monotonic()
        response = harness.mention(
            f"what registries are there? {i}", event_id=f"EvB{i}", ts=f"1700000000.{i:06d}"
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        with lock:
            latencies.append(elapsed)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def fire_socket(socket: FakeSocketMode, count: int) -> list[float]:
    """Send `count` mention envelopes back to back; each latency is envelope sent to ack received."""
    envelopes = [socket.send("events_api", mention_payload(f"EvB{i}", f"question {i}")) for i in range(count)]
    for envelope in envelopes:
        socket.wait_ack(envelope, timeout=30)
    return [socket.ack_latency(envelope) for envelope in envelopes]


def timed(action: Any) -> float:
    """Seconds one call takes."""
    started = time.monotonic()
    action()
    return time.monotonic() - started


def send_command(harness: SlackHarness, socket: FakeSocketMode | None) -> None:
    """`/regent help`, over whichever transport the bench uses; asserts it was acked with the help."""
    if socket is None:
        assert "/regent plan" in harness.command("help").text
        return
    ack = socket.wait_ack(socket.send("slash_commands", command_payload("help")))
    assert "/regent plan" in str(ack)


def send_click(harness: SlackHarness, socket: FakeSocketMode | None) -> None:
    """An Approve click on a proposal that does not exist (acked, then answered ephemerally)."""
    if socket is None:
        assert harness.click("prop-none", user=APPROVER).status_code == 200
        return
    click = {
        "type": "block_actions",
        "user": {"id": APPROVER},
        "team": {"id": "T0TEAM"},
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C0OPS"},
        "actions": [{"action_id": "regent_approve", "value": "prop-none"}],
    }
    socket.wait_ack(socket.send("interactive", click))


def run(args: argparse.Namespace) -> None:
    """Start everything, apply the load, print the figures."""
    step = llm_step(args.llm_delay, stream=args.stream)
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI([step]) as llm:
        llm._server.socket.listen(128)  # a deeper backlog: 8 workers connect at once, every 2 s
        socket = FakeSocketMode().__enter__() if args.socket else None
        try:
            with start_slack(
                Path(tmp),
                llm_url=llm.base_url,
                socket_url=socket.url if socket else None,
                answer_workers=args.workers,
                settings_extra={"llm": {"stream": True}} if args.stream else None,
            ) as harness:
                if args.no_stream_api:
                    harness.fake.state.stream_error = "unknown_method"
                if socket:
                    socket.wait_connected()
                started = time.monotonic()
                side: dict[str, float] = {}

                def side_requests() -> None:
                    time.sleep(0.3)  # while every worker is waiting on the LLM
                    side["command"] = timed(lambda: send_command(harness, socket))
                    side["click"] = timed(lambda: send_click(harness, socket))

                extra = threading.Thread(target=side_requests)
                extra.start()
                latencies = (
                    fire_socket(socket, args.mentions) if socket else fire_http(harness, args.mentions)
                )
                extra.join()
                answers = wait_answers(harness, args)
                last = max(call.at for call in answers) - started
                steps = len(llm.requests)
                counts = {m: len(harness.fake.calls(m)) for m in SLACK_COUNTED}
        finally:
            if socket:
                socket.drop()
                socket.__exit__(None, None, None)
    print_figures(args, latencies, side, answers=len(answers), last=last, steps=steps)
    print("  Slack calls: " + ", ".join(f"{m} {n}" for m, n in counts.items() if n))


def print_figures(
    args: argparse.Namespace,
    latencies: list[float],
    side: dict[str, float],
    *,
    answers: int,
    last: float,
    steps: int,
) -> None:
    """The benchmark's output."""
    mode = "Socket Mode" if args.socket else "HTTP"
    if args.stream:
        mode += ", streamed answers" + (" (workspace without streaming)" if args.no_stream_api else "")
    ms = [v * 1000 for v in latencies]
    print(
        f"{args.mentions} concurrent mentions over {mode}; LLM {args.llm_delay:.1f} s per step, "
        f"{args.workers} answer workers, {steps} LLM requests"
    )
    print(
        f"  ack latency: p50 {percentile(ms, 50):.0f} ms, p99 {percentile(ms, 99):.0f} ms, "
        f"max {max(ms):.0f} ms, mean {statistics.fmean(ms):.0f} ms"
    )
    print(
        f"  during the load: /regent help acked in {side['command'] * 1000:.0f} ms, "
        f"a click in {side['click'] * 1000:.0f} ms"
    )
    print(f"  last of {answers} answers posted after {last:.1f} s")


def main() -> None:
    """Parse flags and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=50)
    parser.add_argument("--llm-delay", type=float, default=2.0, help="seconds the fake LLM takes per step")
    parser.add_argument("--workers", type=int, default=8, help="answer workers (LLM loops in parallel)")
    parser.add_argument("--socket", action="store_true", help="deliver over Socket Mode instead of HTTP")
    parser.add_argument("--stream", action="store_true", help="a streaming LLM; answers stream into Slack")
    parser.add_argument(
        "--no-stream-api", action="store_true", help="with --stream: Slack refuses streaming (unknown_method)"
    )
    parser.add_argument("--no-tokens", action="store_true", help="skip the tokens-per-question measurement")
    args = parser.parse_args()
    run(args)
    if not args.no_tokens:
        print_tokens()


def print_tokens() -> None:
    """Tokens sent to the LLM for one question (5 tool calls) on a 100-tag and a 20,000-tag registry."""
    from tests.integration.test_agent_tokens import tokens_for

    with tempfile.TemporaryDirectory() as tmp:
        small = tokens_for(100, Path(tmp) / "small")
        big = tokens_for(20_000, Path(tmp) / "big")
    print("tokens sent to the LLM per question (5 tool calls, 6 requests; characters / 4):")
    print(f"  100 tags: {small[0]} (largest request {small[1]})")
    print(f"  20,000 tags: {big[0]} (largest request {big[1]}); ratio {big[0] / small[0]:.3f}")


if __name__ == "__main__":
    main()
