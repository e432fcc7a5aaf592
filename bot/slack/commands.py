"""`/regent` subcommands: deterministic answers that need no language model.

The ack is immediate (ephemeral "working on it"); the command runs on a worker and answers through the
response_url. `plan POLICY` also posts an approval card in the channel, so cleanups work without an LLM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from slack_bolt import Respond

from bot.slack.blocks import notice_message, report_message
from bot.slack.mrkdwn import escape_text
from bot.slack.report import Report

log = logging.getLogger(__name__)

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "help": ("", "this list"),
    "image": (
        "REF",
        "size, base image, age, tags and where it runs; REF is repo:tag, repo@digest or a digest",
    ),
    "stale": ("[DAYS]", "images not used by any deployment and older than DAYS (default 90), largest first"),
    "usage": ("[REGISTRY]", "storage per registry and the biggest repositories"),
    "plan": (
        "POLICY",
        "dry-run a retention policy: what it deletes and keeps, exact bytes, an approval card",
    ),
    "base": (
        "LANGUAGE [FRAMEWORK]",
        "the approved base image to build on (python, node, java, go, dotnet, static), with a Dockerfile",
    ),
    "compliance": (
        "[REGISTRY]",
        "compliance evidence (signing, policies, access, history, vulnerabilities) as a PDF",
    ),
    "gc": (
        "REGISTRY",
        "propose garbage collection: the bytes deleted manifests still hold, an approval card",
    ),
    "cache": (
        "REGISTRY UPSTREAM [REPOSITORY:TAG]",
        "propose making a registry a pull-through cache of UPSTREAM: its stack file's diff, an approval card",
    ),
    "revert": ("CHANGE", "propose putting back the stack file an applied change (act-…) replaced"),
    "vulns": (
        "[IMAGE|CVE]",
        "what to fix first (known exploited, EPSS, severity, where it runs); one image's findings and base "
        "upgrade, or one CVE",
    ),
}


class CommandBackend(Protocol):
    """Runs a subcommand on the deterministic code (bot.slack.reports wires the toolbox and domain code)."""

    def run_command(self, *, name: str, argument: str, user: str, conversation: str) -> Report: ...


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One `/regent` invocation."""

    name: str
    argument: str
    user: str
    channel: str
    team: str


def parse_command(text: str) -> tuple[str, str]:
    """Split `/regent` text into (subcommand, argument); empty text means help."""
    name, _, argument = text.strip().partition(" ")
    return name.lower() or "help", argument.strip()


def help_report(*, unknown: str | None = None) -> Report:
    """The list of subcommands (plus a note when the user typed an unknown one)."""
    lines = [f"/regent {name} {usage}".rstrip() + f" — {what}" for name, (usage, what) in SUBCOMMANDS.items()]
    lines.append("Mention me or message me to ask anything else (needs a language model to be configured).")
    notes = (f"Unknown subcommand {unknown!r}.",) if unknown else ()
    return Report(title="Regent commands", lines=tuple(lines), notes=notes)


def run_command(
    request: CommandRequest,
    *,
    backend: CommandBackend,
    respond: Respond,
    post_cards: Callable[[list[str], str, str | None], None],
    reference: Callable[[], str],
    upload: Callable[[str, str, bytes, str], None] | None = None,
) -> None:
    """Run one subcommand on a worker and answer via the response_url (ephemeral)."""
    conversation = f"slack:{request.team}:{request.channel}:command"
    try:
        report = backend.run_command(
            name=request.name, argument=request.argument, user=request.user, conversation=conversation
        )
    except Exception:
        ref = reference()
        log.exception("/regent %s failed (reference %s)", request.name, ref)
        text = f"`/regent {escape_text(request.name)}` failed. Nothing was changed."
        respond(response_type="ephemeral", **notice_message(text, reference=ref).payload())
        return
    respond(response_type="ephemeral", **report_message(report).payload())
    if report.file_content and upload is not None:
        try:
            upload(request.channel, report.file_name, report.file_content, report.title)
        except Exception:
            ref = reference()
            log.exception("uploading %s failed (reference %s)", report.file_name, ref)
            text = "I could not upload the report file here. Invite me (`/invite @Regent`) and try again."
            respond(response_type="ephemeral", **notice_message(text, reference=ref).payload())
    if report.proposal_ids:
        try:
            post_cards(list(report.proposal_ids), request.channel, None)
        except Exception:
            ref = reference()
            log.exception("posting the approval card failed (reference %s)", ref)
            text = (
                "I could not post the approval card in this channel. Invite me (`/invite @Regent`) "
                "or run the command in a channel I am in."
            )
            respond(response_type="ephemeral", **notice_message(text, reference=ref).payload())
