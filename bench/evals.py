"""Real-model evals: the eval cases against any OpenAI-compatible endpoint, the local model by default.

    .venv/bin/python bench/evals.py                         # start the local Qwen2.5-Coder-1.5B, run all
    .venv/bin/python bench/evals.py --smoke                 # CI's subset (cases tagged "smoke")
    .venv/bin/python bench/evals.py --cases size-and-digest,off-topic
    .venv/bin/python bench/evals.py --base-url http://127.0.0.1:8080/v1 --model qwen2.5-coder
    .venv/bin/python bench/evals.py --list
    .venv/bin/python bench/evals.py --count-tokens          # first-request prompt tokens only, no generation
    .venv/bin/python bench/evals.py --transcripts /tmp/t    # also each case's conversation, as JSON
    .venv/bin/python bench/evals.py --all-tools             # every tool schema on every request (baseline)

Each case seeds a fresh real docker-registry (and uses one shared dockerd for the cases about running
containers), crawls, asks, and is judged by rules against facts computed from the tools' own results
(tests/evals). Prints one line per case as it finishes, then the table: pass, seconds, the prompt tokens
of every request (as the server reported them), completion tokens, steps, tools called, and the numbers
of the answer no tool result grounds; then the pass rate. Exit status 1 when a case fails.
--count-tokens renders and tokenizes every case's first request on a llama-server (/apply-template,
/tokenize) without generating: the prompt size in seconds instead of an hour.
A benchmark, not a timed test: on 2 CPU cores the full run takes on the order of an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.agent.llm import ChatModel, Completion, OpenAIChat  # noqa: E402
from bot.demo.binaries import find_binary  # noqa: E402
from bot.demo.dockerd import DockerDaemon  # noqa: E402
from bot.demo.local_model import running_local_model  # noqa: E402
from bot.demo.model_cache import resolve_cache_dir  # noqa: E402
from bot.demo.registry_server import RegistryServer  # noqa: E402
from bot.demo.seed import Seeder  # noqa: E402
from tests.evals.cases import CASES, EvalCase  # noqa: E402
from tests.evals.harness import EvalResult, run_case  # noqa: E402

LOCAL_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
# At ~40 prompt tokens/s a 6,500-token request takes ~3 min on an idle 2-core machine; on a shared one, the
# model gets a fraction of that. A slow answer is measured, not failed.
REQUEST_TIMEOUT_S = 1800.0
MAX_TOKENS = 600  # an answer is a few sentences; a model repeating itself is cut off (docs/assistant.md)


@dataclass(frozen=True, slots=True)
class Row:
    """One case's line of the table."""

    case: str
    passed: bool | None  # None: skipped (a real part is missing)
    seconds: float
    prompt_tokens: list[int]
    completion_tokens: int
    steps: int
    tools: list[str]
    ungrounded: list[str]
    problems: list[str]
    answer: str

    @classmethod
    def of(cls, result: EvalResult) -> Row:
        """The row of a finished case (its judged turn)."""
        return cls(
            case=result.case,
            passed=result.passed,
            seconds=result.seconds,
            prompt_tokens=[r.prompt_tokens for r in result.requests],
            completion_tokens=sum(r.completion_tokens for r in result.requests),
            steps=len(result.requests),
            tools=result.tools,
            ungrounded=result.ungrounded,
            problems=result.problems,
            answer=result.reply.text,
        )


def select(cases: Sequence[EvalCase], *, names: str | None, smoke: bool) -> list[EvalCase]:
    """The cases to run: by id (comma-separated, in the given order), the smoke subset, or all."""
    if names:
        by_id = {case.id: case for case in cases}
        unknown = [name for name in names.split(",") if name.strip() not in by_id]
        if unknown:
            raise SystemExit(f"unknown case(s): {', '.join(unknown)}; --list shows them")
        return [by_id[name.strip()] for name in names.split(",")]
    return [case for case in cases if "smoke" in case.tags] if smoke else list(cases)


@contextmanager
def endpoint(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(base URL, model name): the one given, or a local llama-server for the duration."""
    if args.base_url:
        yield args.base_url, args.model or "gpt-4o-mini"
        return
    cache = resolve_cache_dir(env=os.environ, home=Path.home())
    with running_local_model(cache=cache) as url:
        yield url, args.model or LOCAL_MODEL


class Dockerd:
    """One dockerd for the cases that need running containers, started on first use."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self._daemon: DockerDaemon | None = None
        self.missing: str | None = None

    def get(self) -> DockerDaemon | None:
        """The daemon, or None (and `missing` says why) when this machine cannot run one."""
        if self._daemon is None and self.missing is None:
            if os.geteuid() != 0 or find_binary("dockerd") is None or find_binary("busybox") is None:
                self.missing = "needs root, dockerd and busybox-static"
            else:
                daemon = DockerDaemon(insecure_registries=["127.0.0.0/8"])
                self._daemon = self._stack.enter_context(daemon)
        return self._daemon


def run_one(
    case: EvalCase,
    chat: OpenAIChat,
    dockerd: Dockerd,
    work: Path,
    transcripts: Path | None = None,
    *,
    select_tools: bool = True,
) -> Row:
    """Run one case on its own registry and state directory (its conversation into `transcripts`)."""
    daemon = dockerd.get() if case.dockerd else None
    if case.dockerd and daemon is None:
        return Row(case.id, None, 0.0, [], 0, 0, [], [], [f"skipped: {dockerd.missing}"], "")
    result = on_fresh_registry(case, chat, daemon, work, select_tools=select_tools)
    if transcripts is not None:
        transcripts.mkdir(parents=True, exist_ok=True)
        (transcripts / f"{case.id}.json").write_text(json.dumps(result.transcript, indent=1))
    return Row.of(result)


def on_fresh_registry(
    case: EvalCase, llm: ChatModel, daemon: DockerDaemon | None, work: Path, *, select_tools: bool
) -> EvalResult:
    """One case against a registry of its own, with its own state directory."""
    with RegistryServer() as registry, Seeder(registry.url) as seeder:
        return run_case(
            case,
            registry=registry,
            seeder=seeder,
            state=work / case.id,
            llm=llm,
            dockerd=daemon,
            select_tools=select_tools,
        )


class TokenCounter:
    """A ChatModel that only counts: the request rendered by the server's chat template and tokenized,
    then a fixed answer without tool calls (so each question makes exactly one request)."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=120)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        """Count the prompt tokens of this request."""
        body: dict[str, Any] = {"messages": messages, **({"tools": tools} if tools else {})}
        prompt = self._http.post("/apply-template", json=body).raise_for_status().json()["prompt"]
        tokens = self._http.post("/tokenize", json={"content": prompt}).raise_for_status().json()["tokens"]
        return Completion(content="(counted)", finish_reason="stop", prompt_tokens=len(tokens))


def count_tokens(
    cases: Sequence[EvalCase], url: str, dockerd: Dockerd, work: Path, *, select_tools: bool = True
) -> int:
    """Print the first request's prompt tokens and the number of tools shown, per case."""
    counter = TokenCounter(url)
    firsts = []
    try:
        for case in cases:
            daemon = dockerd.get() if case.dockerd else None
            if case.dockerd and daemon is None:
                continue
            result = on_fresh_registry(case, counter, daemon, work, select_tools=select_tools)
            first = result.requests[0]
            firsts.append(first.prompt_tokens)
            print(f"{case.id:24} {first.prompt_tokens:6,} tokens  {first.tools_offered:2} tools", flush=True)
    finally:
        counter.close()
    firsts.sort()
    print(f"first request prompt tokens: median {firsts[len(firsts) // 2]:,}, max {firsts[-1]:,}")
    return 0


def mark(passed: bool | None) -> str:
    """PASS, FAIL or SKIP."""
    return "SKIP" if passed is None else "PASS" if passed else "FAIL"


def print_row(row: Row, *, verbose: bool) -> None:
    """One finished case, with its problems (and its answer with --verbose)."""
    prompts = "+".join(str(n) for n in row.prompt_tokens) or "-"
    print(
        f"{mark(row.passed)} {row.case}: {row.seconds:.0f} s, prompt tokens {prompts}, "
        f"completion {row.completion_tokens}, tools {', '.join(row.tools) or '-'}",
        flush=True,
    )
    for problem in row.problems:
        print(f"    - {problem}", flush=True)
    if verbose or not row.passed:
        answer = " ".join(row.answer.split())
        print(f"    answer: {answer[:600]}", flush=True)


def table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table (pasted into docs/assistant.md)."""
    lines = [
        "| case | pass | s | prompt tokens per request | completion | steps | tools called | ungrounded |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        prompts = " + ".join(f"{n:,}" for n in row.prompt_tokens) or "-"
        lines.append(
            f"| {row.case} | {mark(row.passed)} | {row.seconds:.0f} | {prompts} | {row.completion_tokens:,} "
            f"| {row.steps} | {', '.join(row.tools) or '-'} | {', '.join(row.ungrounded) or '-'} |"
        )
    return "\n".join(lines)


def summary(rows: Sequence[Row], *, model: str, elapsed: float) -> str:
    """Pass rate, first-request prompt tokens, and what the run was."""
    ran = [row for row in rows if row.passed is not None]
    passed = sum(1 for row in ran if row.passed)
    firsts = sorted(row.prompt_tokens[0] for row in ran if row.prompt_tokens)
    median = firsts[len(firsts) // 2] if firsts else 0
    rate = 100 * passed / len(ran) if ran else 0.0
    skipped = len(rows) - len(ran)
    ungrounded_passing = sum(len(row.ungrounded) for row in ran if row.passed)
    return "\n".join(
        [
            f"pass rate: {passed}/{len(ran)} = {rate:.0f} %" + (f" ({skipped} skipped)" if skipped else ""),
            f"first request prompt tokens: median {median:,}, max {max(firsts, default=0):,}; "
            f"all requests: {sum(sum(r.prompt_tokens) for r in ran):,} prompt, "
            f"{sum(r.completion_tokens for r in ran):,} completion tokens",
            f"ungrounded numbers in passing answers: {ungrounded_passing}",
            f"model {model}; {datetime.now(UTC):%Y-%m-%d}; {os.cpu_count()} CPU cores "
            f"({platform.machine()}), no GPU; {elapsed / 60:.1f} min",
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint; default: start the local model")
    parser.add_argument("--model", help=f"model name (default: {LOCAL_MODEL} locally, else gpt-4o-mini)")
    parser.add_argument("--api-key", default=None, help="API key of --base-url (a local server needs none)")
    parser.add_argument("--cases", help="comma-separated case ids (see --list)")
    parser.add_argument("--smoke", action="store_true", help="only the CI smoke subset")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here (after each case)")
    parser.add_argument("--verbose", action="store_true", help="print every answer, not only failed ones")
    parser.add_argument(
        "--transcripts", type=Path, help="write each case's conversation (messages, tool results, reply) here"
    )
    parser.add_argument(
        "--count-tokens", action="store_true", help="only count first-request prompt tokens (llama-server)"
    )
    parser.add_argument(
        "--all-tools",
        action="store_true",
        help="send every tool's schema on every request (llm.select_tools false): the token cut's baseline",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected cases and print the table; 1 when any case failed."""
    args = parse_args(argv)
    # A stopped benchmark (CI timeout, Ctrl-C) still stops its llama-server and dockerd on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.list:
        for case in CASES:
            print(f"{case.id:24} {' '.join(case.tags):8} {case.question}")
        return 0
    cases = select(CASES, names=args.cases, smoke=args.smoke)
    started = time.monotonic()
    rows: list[Row] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="regent-evals-") as tmp:
        url, model = stack.enter_context(endpoint(args))
        chat = OpenAIChat(
            model=model,
            base_url=url,
            api_key=args.api_key,
            timeout_s=REQUEST_TIMEOUT_S,
            max_retries=0,
            max_tokens=MAX_TOKENS,
        )
        stack.callback(chat.close)
        dockerd = Dockerd(stack)
        if args.count_tokens:
            return count_tokens(cases, url, dockerd, Path(tmp), select_tools=not args.all_tools)
        print(f"{len(cases)} case(s) against {model} at {url}", flush=True)
        for case in cases:
            row = run_one(case, chat, dockerd, Path(tmp), args.transcripts, select_tools=not args.all_tools)
            rows.append(row)
            print_row(row, verbose=args.verbose)
            if args.json:  # after every case: a run stopped at a deadline keeps the cases it finished
                args.json.write_text(json.dumps([_jsonable(row) for row in rows], indent=1))
    print()
    print(table(rows))
    print()
    print(summary(rows, model=model, elapsed=time.monotonic() - started))
    return 0 if all(row.passed is not False for row in rows) else 1


def _jsonable(row: Row) -> dict[str, Any]:
    return {name: getattr(row, name) for name in Row.__slots__}


if __name__ == "__main__":
    sys.exit(main())
