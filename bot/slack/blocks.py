"""Pure Block Kit builders (slack_sdk models): answers, approval cards and command reports.

Every builder returns messages that fit Slack's limits: at most 50 blocks, section text at most 3,000
characters, header 150, button value 2,000; `message_limits_ok` is what the tests check them against.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.approvals import CardItem, ProposalCard
from bot.slack.mrkdwn import (
    escape_text,
    format_table,
    inline_code,
    sanitize_mrkdwn,
    split_mrkdwn,
    truncate,
)
from bot.slack.report import Report

APPROVE_ACTION = "regent_approve"
REJECT_ACTION = "regent_reject"
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


# -- approval cards ----------------------------------------------------------------------------------


def card_message(card: ProposalCard, *, note: str | None = None) -> Message:
    """The approval card for a proposal in any state: buttons while pending, the outcome after."""
    proposal = card.proposal
    title = f"Cleanup proposal: delete {card.item_count} manifests, reclaim {card.reclaimable}"
    policies = ", ".join(inline_code(p) for p in card.policies) or "(none)"
    blocks: list[Block] = [
        header(title),
        section(
            f"*Requested by* <@{escape_text(proposal.requester)}> · *Policies* {policies} · "
            f"*Expires* {slack_date(proposal.expires_at)}"
        ),
        section(_bytes_line(card)),
        section(_items_table(card.top_items, total=card.item_count)),
        section(truncate(_kept_line(card), 3000)),
    ]
    notes = [*card.warnings, *card.after_delete]
    if notes:
        blocks.append(context(truncate(" · ".join(escape_text(n) for n in notes), 2000)))
    blocks.append(
        context(
            f"Proposal `{escape_text(proposal.id)}` · plan `{escape_text(proposal.plan_id)}` · "
            f"items `{escape_text(proposal.items_hash[:19])}`"
        )
    )
    blocks.extend(_state_blocks(card))
    if note:
        blocks.append(context(note))
    return Message(blocks, title)


def _bytes_line(card: ProposalCard) -> str:
    shared = f" ({card.shared} of it shared between these items)" if not card.shared.startswith("0 ") else ""
    return f"*Reclaimable after garbage collection:* {card.reclaimable}{shared}"


def _items_table(items: Sequence[CardItem], *, total: int) -> str:
    if not items:
        return "_No items: this plan deletes nothing._"
    rows = [
        (
            _tail(item.repository, 36),
            item.digest.removeprefix("sha256:")[:12],
            truncate(", ".join(item.tags) or "(untagged)", 24),
            item.size,
            truncate(item.reason, 28),
        )
        for item in items
    ]
    # 10 rows of at most ~120 characters: far under a section's 3,000.
    table = format_table(("repository", "digest", "tags", "size", "why"), rows, right=(3,), max_cell=36)
    more = total - len(items)
    suffix = f"\n…and {more} more; every item is listed in this thread." if more > 0 else ""
    return f"*To delete* (largest first)\n{table}{suffix}"


def _tail(text: str, limit: int) -> str:
    # The end of a repository path names the image; the start is usually a shared team prefix.
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _kept_line(card: ProposalCard) -> str:
    if not card.kept_count:
        return "*What stays:* nothing else in scope."
    reasons = "; ".join(f"{escape_text(reason)} ({count})" for reason, count in card.kept_reasons[:6])
    return f"*What stays:* {card.kept_count} digests in scope — {reasons}"


def _state_blocks(card: ProposalCard) -> list[Block]:
    proposal = card.proposal
    who = f"<@{escape_text(proposal.decided_by)}>" if proposal.decided_by else "someone"
    when = f" {slack_date(proposal.decided_at)}" if proposal.decided_at else ""
    status = proposal.status
    if status == "pending":
        return [DividerBlock(), _buttons(card)]
    if status == "rejected":
        return [DividerBlock(), section(f":no_entry: Rejected by {who}{when}. Nothing was deleted.")]
    if status == "expired":
        return [DividerBlock(), section(":hourglass: Expired without a decision. Nothing was deleted.")]
    if status in ("approved", "executing") or card.execution is None:
        return [DividerBlock(), section(f":hourglass_flowing_sand: Approved by {who}{when}. Deleting now…")]
    return [DividerBlock(), *_outcome_blocks(card, who=who, when=when)]


def _outcome_blocks(card: ProposalCard, *, who: str, when: str) -> list[Block]:
    run = card.execution
    assert run is not None
    icon = ":x:" if card.proposal.status == "failed" else ":white_check_mark:"
    blocks: list[Block] = [
        section(
            f"{icon} Approved by {who}{when}. Deleted {run.deleted}, already gone {run.already_gone}, "
            f"skipped {run.skipped}, failed {run.failed}. Freed {escape_text(run.freed)}."
        )
    ]
    if run.not_deleted:
        rows = [(o.reference, o.status, o.reason) for o in run.not_deleted[:12]]
        more = len(run.not_deleted) - len(rows)
        table = format_table(("image", "result", "why"), rows, max_cell=60)  # < 2,300 characters
        blocks.append(section(table + (f"\n…and {more} more." if more > 0 else "")))
    if run.after_delete:
        blocks.append(context(truncate(" · ".join(escape_text(n) for n in run.after_delete), 2000)))
    return blocks


def _buttons(card: ProposalCard) -> ActionsBlock:
    proposal = card.proposal
    confirm_text = (
        f"Deletes {card.item_count} manifests by digest ({card.reclaimable} after garbage collection). "
        "Each item is re-checked just before it is deleted."
    )
    approve = ButtonElement(
        text="Approve",
        action_id=APPROVE_ACTION,
        value=proposal.id,
        style="primary",
        confirm=ConfirmObject(
            title=truncate(f"Delete {card.item_count} manifests?", 100),
            text=truncate(confirm_text, 300),
            confirm="Delete",
            deny="Cancel",
            style="danger",
        ),
    )
    reject = ButtonElement(
        text="Reject",
        action_id=REJECT_ACTION,
        value=proposal.id,
        style="danger",
        confirm=ConfirmObject(
            title="Reject this cleanup?", text="Nothing will be deleted.", confirm="Reject", deny="Cancel"
        ),
    )
    return ActionsBlock(block_id=f"proposal:{proposal.id}", elements=[approve, reject])


def item_list_messages(card: ProposalCard, *, max_items: int = 2000) -> list[Message]:
    """Every item of the plan (not only the card's top ones), as thread replies; empty if all fit."""
    if card.item_count <= len(card.top_items):
        return []
    items = card.all_items[:max_items]
    # One line per item with the full digest (a table would cut it): registry, repository@digest, size, tags.
    lines = [
        f"{index}. {inline_code(item.registry)} {inline_code(f'{item.repository}@{item.digest}')} "
        f"{item.size} · tags: {escape_text(_tag_list(item.tags))}"
        for index, item in enumerate(items, start=1)
    ]
    chunks = split_mrkdwn("\n".join(lines))
    intro = f"All {card.item_count} items of proposal `{escape_text(card.proposal.id)}`:"
    if card.item_count > len(items):
        intro += f" (first {len(items)}; narrow the policy to see the rest)"
    sections = [intro, *chunks]
    return [Message([section(s) for s in sections[i : i + 40]], intro) for i in range(0, len(sections), 40)]


def _tag_list(tags: Sequence[str], *, shown: int = 5) -> str:
    text = ", ".join(truncate(tag, 40) for tag in tags[:shown]) or "(untagged)"
    return text + (f" and {len(tags) - shown} more" if len(tags) > shown else "")


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
    if report.notes:
        blocks.append(context(truncate(" · ".join(escape_text(n) for n in report.notes), 2000)))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], context("Cut short: too long for one message.")]
    return Message(blocks, escape_text(report.title))
