"""Pure Block Kit builders (slack_sdk models): answers, notices and command reports (cards: cards.py).

Every builder returns messages that fit Slack's limits: at most 50 blocks, section text at most 3,000
characters, header 150, button value 2,000; `message_limits_ok` is what the tests check them against.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.mrkdwn import (
    escape_text,
    format_table,
    sanitize_mrkdwn,
    split_mrkdwn,
    truncate,
)
from bot.slack.report import Report

MAX_BLOCKS = 50
SECTIONS_PER_MESSAGE = 12  # ~36k characters: long answers become several messages, each readable


class Message:
    """One message to post: blocks plus the plain `text` fallback (notifications, screen readers)."""

    def __init__(self, blocks: Sequence[Block], text: str) -> None:
        self.blocks = list(blocks)
        self.text = truncate(text, 3000)

    def payload(self) -> dict[str, Any]:
        """Keyword arguments for chat.postMessage / chat.update."""
        return {"blocks": [b.to_dict() for b in self.blocks], "text": self.text}


def section(text: str) -> SectionBlock:
    """A mrkdwn section; the caller guarantees text is already safe mrkdwn within 3,000 characters."""
    return SectionBlock(text=MarkdownTextObject(text=text or " "))


def context(text: str) -> ContextBlock:
    """Small grey text."""
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 3000))])


def header(text: str) -> HeaderBlock:
    """A header (plain text, at most 150 characters); angle brackets become look-alikes, never markup."""
    return HeaderBlock(text=PlainTextObject(text=truncate(plain_safe(text), 150)))


def plain_safe(text: str) -> str:
    """Plain text that cannot carry Slack markup: entities would show literally, so swap the brackets."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


def slack_date(moment: datetime) -> str:
    """A date Slack shows in the reader's time zone (we generate this markup; it is not user input)."""
    epoch = int(moment.timestamp())
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def answer_messages(text: str, *, notes: Sequence[str] = ()) -> list[Message]:
    """A model's answer (untrusted mrkdwn) as one or more messages of sections."""
    chunks = split_mrkdwn(sanitize_mrkdwn(text))
    messages: list[Message] = []
    for start in range(0, len(chunks), SECTIONS_PER_MESSAGE):
        part = chunks[start : start + SECTIONS_PER_MESSAGE]
        messages.append(Message([section(chunk) for chunk in part], part[0]))
    if notes:
        last = messages[-1]
        last.blocks.append(context(" · ".join(escape_text(n) for n in notes)))
    return messages


def notice_message(text: str, *, reference: str | None = None) -> Message:
    """A short message from us (already safe mrkdwn), with a reference id when something failed."""
    blocks: list[Block] = [section(text)]
    if reference:
        blocks.append(context(f"Reference `{escape_text(reference)}`"))
    return Message(blocks, text)


# -- command reports -----------------------------------------------------------------------------------


def report_message(report: Report) -> Message:
    """A `/regent` report: escaped title, lines, a monospace table and notes."""
    blocks: list[Block] = [header(report.title)]
    text = "\n".join(escape_text(line) for line in report.lines)
    for chunk in split_mrkdwn(text) if text else []:
        blocks.append(section(chunk))
    for table in report.tables:
        rendered = format_table(table.headers, [list(r) for r in table.rows], right=table.right)
        if table.title:
            rendered = f"*{escape_text(table.title)}*\n{rendered}"
        blocks.extend(section(chunk) for chunk in split_mrkdwn(rendered))
        if table.omitted:
            blocks.append(context(f"{table.omitted} more rows not shown."))
    if report.code:
        # A triple backtick would close the block early (image names come from registries).
        code = escape_text(report.code.replace("```", "'''"))
        blocks.extend(section(f"```{chunk}```") for chunk in split_mrkdwn(code, limit=2900))
    if report.notes:
        blocks.append(context(truncate(" · ".join(escape_text(n) for n in report.notes), 2000)))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], context("Cut short: too long for one message.")]
    return Message(blocks, escape_text(report.title))
