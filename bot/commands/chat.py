"""`regent chat`: the Slack assistant in a terminal, same agent, same approval and execution path.

A proposal is shown from its stored plan (what would run is what is shown) and followed by
"Approve? [y/N]"; yes goes through bot.approvals' ProposalStore.decide and .execute exactly as a Slack
click does, with the local OS user (`cli:<login>`) as approver. Whoever runs this holds the state
directory and the registry credentials already, so the terminal user may approve their own request.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from collections.abc import Callable
from typing import Literal

from bot.app import App, app_from_env
from bot.approvals import Card
from bot.commands.doctor import check_before_chat
from bot.config import PortainerSettings, load_settings
from tools.errors import ConfigError, RegentError

Read = Callable[[str], str]
Write = Callable[[str], None]


def run_chat_command(args: argparse.Namespace) -> int:
    """Open the runtime, crawl if needed, then chat until EOF or `exit`."""
    settings = load_settings(args.config)
    if args.portainer:
        settings = settings.model_copy(update={"portainer": PortainerSettings(url=args.portainer)})
    runtime = app_from_env(settings=settings, registry_urls=args.registry, docker_hosts=args.docker_host)
    try:
        if runtime.agent is None:
            raise ConfigError(
                "regent chat needs a language model: set OPENAI_BASE_URL and/or OPENAI_API_KEY "
                "(and REGENT_MODEL)"
            )
        check_before_chat(runtime, write=_print_status)
        if args.refresh or runtime.latest_snapshot() is None:
            _refresh(runtime, required=args.refresh)
        user = f"cli:{getpass.getuser()}"
        conversation = f"cli:{secrets.token_hex(4)}"
        chat(runtime, user=user, conversation=conversation, read=input, write=print)
    finally:
        runtime.close()
    return 0


def _refresh(runtime: App, *, required: bool) -> None:
    _print_status("Crawling registries and environments…")
    try:
        snapshot = runtime.refresh_snapshot()
    except RegentError as exc:
        if required:
            raise
        _print_status(f"no inventory yet ({exc}); answers will say so")
        return
    for error in snapshot.errors[:5]:
        _print_status(f"warning: {error}")


def _print_status(message: str) -> None:
    print(f"  · {message}", file=sys.stderr, flush=True)


def chat(runtime: App, *, user: str, conversation: str, read: Read, write: Write) -> None:
    """The read-answer loop; proposals are reviewed inline."""
    assert runtime.agent is not None  # checked by the caller
    write("Regent: ask about your images and registries. Type exit to leave.")
    while True:
        try:
            text = read("you> ").strip()
        except EOFError:
            write("")
            return
        if not text:
            continue
        if text.lower() in {"exit", "quit"}:
            return
        reply = runtime.agent.answer(conversation=conversation, user=user, text=text, status=_print_status)
        write(f"regent> {reply.text}")
        if reply.truncated:
            write("(answer cut short: ask a narrower question for the rest)")
        for proposal_id in reply.proposal_ids:
            review_proposal(runtime, proposal_id, user=user, read=read, write=write)


def review_proposal(runtime: App, proposal_id: str, *, user: str, read: Read, write: Write) -> None:
    """Show a proposal from its stored change, ask, and decide/execute through the approvals store."""
    proposal = runtime.proposals.get(proposal_id)
    if proposal is None:
        write(f"Proposal {proposal_id} does not exist.")
        return
    card = runtime.proposals.card(proposal)
    write(f"\nProposal {proposal.id}: {proposal.summary}")
    _show(card, write)
    try:
        answer = read("Approve? [y/N] ").strip().lower()
    except EOFError:
        write("\nNo answer: the proposal stays pending until it expires.")
        return
    decision_kind: Literal["approve", "reject"] = "approve" if answer in {"y", "yes"} else "reject"
    decision = runtime.proposals.decide(
        proposal_id=proposal.id, user=user, decision=decision_kind, authorizer=runtime.cli_authorizer(user)
    )
    nothing = card.wording.nothing_done
    write(decision.message if decision_kind == "approve" else f"{decision.message} {nothing}")
    if decision.outcome != "approved":
        return
    execution = runtime.proposals.execute(proposal_id=proposal.id)
    write(execution.message)
    outcome = runtime.proposals.card(execution.proposal).outcome if execution.ran else None
    if outcome is not None:
        for item in outcome.items:
            write(f"  - {item.label}: {item.status.replace('_', ' ')} ({item.reason})")
        for note in outcome.notes:
            write(f"  next: {note}")


def _show(card: Card, write: Write) -> None:
    """A card in the terminal, for any kind of change: what it is, its items (as many as the card
    lists; the rest are counted), and what the approver should know."""
    for fact in (*card.facts, *card.view.lines):
        write(f"  {fact.name.rstrip(':')}: {fact.value}")
    for item in card.shown:
        write(f"  - {item.label}")
    if card.item_count > len(card.shown):
        write(f"  … and {card.item_count - len(card.shown)} more")
    for warning in card.warnings:
        write(f"  warning: {warning}")
    for note in card.view.notes:
        write(f"  note: {note}")
