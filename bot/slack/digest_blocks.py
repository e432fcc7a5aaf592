"""The digest as Block Kit (slack_sdk models), from the same strings the terminal prints.

Every string is escaped (registry names can hold `<!channel>`); tables are monospace code blocks; a
section longer than 3,000 characters is split; the message never exceeds 50 blocks (sections that do
not fit are named in a last context line). Only the model's summary is model text: it is sanitized.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    DividerBlock,
    MarkdownTextObject,
    PlainTextObject,
)

from bot.digest.model import Digest, DigestAction, DigestSection, omitted_text
from bot.slack.blocks import MAX_BLOCKS, Message, context, header, section
from bot.slack.mrkdwn import escape_text, format_table, sanitize_mrkdwn, split_mrkdwn, truncate

CELL_LIMIT = 90  # wide enough that no figure in a digest cell is ever cut
_ICON = {"info": "", "warning": ":warning: ", "risk": ":rotating_light: "}


def digest_message(digest: Digest, *, chart_note: str | None = None) -> Message:
    """The digest message: header, headline, optional summary, one group of blocks per section."""
    blocks: list[Block] = [header(digest.title), section(truncate(_lines(digest.headline), 3000))]
    if digest.summary:
        by = escape_text(digest.summary_by or "the language model")
        blocks.append(
            section(
                truncate(
                    f"*Summary* _(written by {by} from the figures below)_\n"
                    + sanitize_mrkdwn(digest.summary),
                    3000,
                )
            )
        )
    groups = [section_blocks(s) for s in digest.sections]
    tail = [context(escape_text(chart_note))] if chart_note else []
    used = len(blocks) + len(tail)
    left_out: list[str] = []
    for sec, group in zip(digest.sections, groups, strict=True):
        divider = [DividerBlock()]
        if used + len(group) + 1 > MAX_BLOCKS - 1:  # keep one block for the "left out" line
            left_out.append(sec.title)
            continue
        blocks.extend(divider + group)
        used += len(group) + 1
    if left_out:
        tail.append(
            context(escape_text(f"Left out to fit Slack: {', '.join(left_out)}. Run `regent digest`."))
        )
    return Message([*blocks, *tail], digest.fallback_text())


def section_blocks(sec: DigestSection) -> list[Block]:
    """One digest section: its text and table split into sections, notes, then its buttons."""
    parts = [f"{_ICON[sec.severity]}*{escape_text(sec.title)}*"]
    if sec.lines:
        parts.append(_lines(sec.lines))
    if sec.table is not None:
        parts.append(
            format_table(sec.table.headers, sec.table.rows, right=sec.table.right, max_cell=CELL_LIMIT)
        )
        if sec.table.omitted:
            parts.append(escape_text(omitted_text(sec.table.omitted)))
    blocks: list[Block] = [section(chunk) for chunk in split_mrkdwn("\n".join(parts))]
    if sec.notes:
        blocks.append(context(truncate(" · ".join(escape_text(n) for n in sec.notes), 2000)))
    if sec.actions:
        blocks.append(
            ActionsBlock(block_id=f"digest-{sec.key}"[:255], elements=[_button(a) for a in sec.actions[:5]])
        )
    return blocks


def _lines(lines: list[str]) -> str:
    return "\n".join(escape_text(line) for line in lines)


def _button(action: DigestAction) -> ButtonElement:
    confirm = (
        ConfirmObject(
            title=PlainTextObject(text=truncate(action.label + "?", 100)),
            text=MarkdownTextObject(text=truncate(escape_text(action.confirm), 300)),
            confirm=PlainTextObject(text="Propose"),
            deny=PlainTextObject(text="Cancel"),
        )
        if action.confirm
        else None
    )
    return ButtonElement(
        text=PlainTextObject(text=truncate(action.label, 75)),
        action_id=action.action_id,
        value=action.value,
        style="primary",
        confirm=confirm,
    )
