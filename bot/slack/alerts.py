"""Slack alerts for registry events: pure Block Kit builders and a poster on slack_sdk's WebClient.

Builders escape every registry-supplied string (repository, tag, actor names come from whoever pushed)
so that a tag like `<!channel>` cannot ping a channel, and keep within Slack's limits (50 blocks,
3,000 characters per section).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from tools.events.anomalies import Anomaly
from tools.events.push_analysis import PushAnalysis
from tools.units import format_bytes

log = logging.getLogger(__name__)

MAX_SECTION = 3000
MAX_ANOMALIES_PER_MESSAGE = 20
_SEVERITY_MARK = {"high": ":red_circle:", "medium": ":large_orange_circle:", "low": ":white_circle:"}


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup (`&`, `<`, `>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str) -> str:
    """Header (plain_text) safe: entities would show literally there, so brackets become look-alikes."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


def _section(text: str) -> SectionBlock:
    clipped = text if len(text) <= MAX_SECTION else text[: MAX_SECTION - 1] + "…"
    return SectionBlock(text=MarkdownTextObject(text=clipped or " "))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text[:MAX_SECTION] or " ")])


def _change(delta: int | None) -> str:
    return "?" if delta is None else format_bytes(delta, signed=True)


def push_alert_message(analysis: PushAnalysis) -> dict[str, Any]:
    """chat.postMessage arguments (blocks, text) for an anomalous push."""
    image = f"{analysis.registry}/{analysis.repository}:{analysis.tag}"
    alerts = [f for f in analysis.findings if f.severity == "alert"]
    infos = [f for f in analysis.findings if f.severity != "alert"]
    lines = [f"• {escape(f.message)}" for f in alerts] + [f"• _{escape(f.message)}_" for f in infos]
    blocks: list[Block] = [
        HeaderBlock(text=plain(f"Unusual push: {image}")[:150]),
        _section(
            f"*`{escape(image)}`* pushed by *{escape(analysis.actor or 'an anonymous client')}*"
            f" at {analysis.pushed_at:%Y-%m-%d %H:%M} UTC\n" + "\n".join(lines)
        ),
    ]
    if analysis.previous is not None:
        reused = analysis.layers_reused if analysis.layers_reused is not None else 0
        blocks.append(
            _context(
                f"Compared with `{escape(analysis.previous.tag)}`: {format_bytes(analysis.previous.bytes)} →"
                f" {format_bytes(analysis.current.bytes)} ({_change(analysis.size_delta_bytes)}),"
                f" {reused} of {len(analysis.current.layers)} layers reused."
                f" Digest `{analysis.digest[:19]}…`"
            )
        )
    for note in analysis.notes:
        blocks.append(_context(escape(note)))
    text = f"Unusual push {image}: " + "; ".join(f.message for f in alerts)
    return {"blocks": [b.to_dict() for b in blocks], "text": escape(text)[:MAX_SECTION]}


def anomaly_alert_message(anomalies: Sequence[Anomaly], *, window_hours: int) -> dict[str, Any]:
    """chat.postMessage arguments for newly found access anomalies (the largest first, bounded)."""
    shown = list(anomalies[:MAX_ANOMALIES_PER_MESSAGE])
    lines = [
        f"{_SEVERITY_MARK[a.severity]} *{a.kind.replace('_', ' ')}*: {escape(a.summary)}"
        f" _({a.first_at:%m-%d %H:%M} to {a.last_at:%H:%M} UTC)_"
        for a in shown
    ]
    blocks: list[Block] = [HeaderBlock(text=f"Registry access anomalies ({len(anomalies)})")]
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > MAX_SECTION - 10:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    hidden = len(anomalies) - len(shown)
    tail = f"{hidden} more not shown; ask Regent for access_anomalies. " if hidden else ""
    blocks.append(_context(f"{tail}Window: the last {window_hours} h against the baseline."))
    text = f"{len(anomalies)} registry access anomalies: " + "; ".join(a.summary for a in shown[:3])
    return {"blocks": [b.to_dict() for b in blocks], "text": escape(text)[:MAX_SECTION]}


class SlackAlertPoster:
    """Posts alert messages with a slack_sdk WebClient; failures are logged and reported, never raised."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(self, channel: str, message: dict[str, Any]) -> bool:
        """Post to a channel; True when Slack accepted it."""
        try:
            self._client.chat_postMessage(channel=channel, **message)
        except SlackApiError as exc:
            log.error("events: posting an alert to %s failed: %s", channel, exc.response.get("error"))
            return False
        except Exception as exc:  # transport errors: the caller retries later
            log.error("events: posting an alert to %s failed: %s", channel, type(exc).__name__)
            return False
        return True
