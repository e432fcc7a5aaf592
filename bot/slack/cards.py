"""The approval card in Block Kit, for every kind of change (bot.approvals' one Card model).

Drawn only from the card (the stored change, and its stored run report once run): the buttons carry only
the proposal id and ask for confirmation; the card is re-rendered in place as the proposal moves on;
every item is listed, on the card up to the kind's `card_items`, the rest in the card's thread. Every
string that came from outside (tags, labels, reasons, model text) is escaped, and every message stays
within Slack's limits (50 blocks, section 3,000 characters, header 150, button value 2,000).
"""

from __future__ import annotations

import re

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject, DividerBlock

from bot.approvals import Card, Fact, OutcomeView
from bot.slack.blocks import MAX_BLOCKS, Message, context, header, section, slack_date
from bot.slack.mrkdwn import escape_text, format_table, inline_code, split_mrkdwn, truncate

APPROVE_ACTION = "regent_approve"
REJECT_ACTION = "regent_reject"
MAX_LINES = 10  # a kind's own lines on the card (bytes, what stays, the reason)
OUTCOME_ITEMS = 15  # per-item outcomes on the card; the audit log has every one
THREAD_ITEMS = 2000  # items listed in the card's thread; a bigger change says how to narrow it
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_ICONS = {
    "done": ":white_check_mark:",
    "deleted": ":white_check_mark:",
    "already_gone": ":heavy_minus_sign:",
    "skipped": ":warning:",
}


def card_message(card: Card, *, note: str | None = None) -> Message:
    """The approval card of a proposal in any state: buttons while pending, the outcome after."""
    proposal, view = card.proposal, card.view
    facts = "".join(f"{_fact(fact)} · " for fact in view.facts)
    blocks: list[Block] = [
        header(view.title),
        section(
            _fit(f"*Requested by* {person_mention(proposal.requester)} · {facts}", 2900)
            + f"*Expires* {slack_date(proposal.expires_at)}"
        ),
        *(section(_fit(_fact(line), 3000)) for line in view.lines[:MAX_LINES]),
        section(_items_section(card)),
    ]
    if view.preformatted:
        blocks.append(section(_code_block(view.preformatted, proposal.change_id)))
    notes = [*view.warnings, *view.notes]
    if notes:
        blocks.append(context(_fit(" · ".join(escape_text(n) for n in notes), 2000)))
    blocks.append(
        context(
            f"Proposal `{escape_text(proposal.id)}` · {escape_text(proposal.kind)} "
            f"`{escape_text(proposal.change_id)}` · items `{escape_text(proposal.items_hash[:19])}`"
        )
    )
    blocks.extend(_state_blocks(card))
    if note:
        blocks.append(context(note))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], context("Cut short: too long for one message.")]
    return Message(blocks, view.title)


def item_list_messages(card: Card, *, max_items: int = THREAD_ITEMS) -> list[Message]:
    """Every item of the change (not only the card's), as thread replies; empty if the card shows all."""
    if card.item_count <= len(card.shown):
        return []
    items = card.items[:max_items]
    # One line per item with its exact id (a full digest) where the label shortens it.
    lines = [
        f"{index}. {escape_text(item.label)}" + (f" {inline_code(item.ref)}" if item.ref else "")
        for index, item in enumerate(items, start=1)
    ]
    intro = f"All {card.item_count} items of proposal `{escape_text(card.proposal.id)}`:"
    if card.item_count > len(items):
        intro += f" (first {len(items)}; narrow the request to see the rest)"
    sections = [intro, *split_mrkdwn("\n".join(lines))]
    return [Message([section(s) for s in sections[i : i + 40]], intro) for i in range(0, len(sections), 40)]


def _items_section(card: Card) -> str:
    view, shown = card.view, card.shown
    heading = f"*{escape_text(view.items_heading)}*"
    if not shown:
        return f"{heading}\n_No items: this proposal changes nothing._"
    if view.columns:
        rows = [item.cells for item in shown]
        # At most card_items rows of ~120 characters: far under a section's 3,000.
        body = format_table(view.columns, rows, max_cell=36)
    else:
        body = "\n".join(f"{i}. {escape_text(item.label)}" for i, item in enumerate(shown, start=1))
    more = card.item_count - len(shown)
    suffix = f"\n…and {more} more; every item is listed in this thread." if more > 0 else ""
    return _fit(f"{heading}\n{body}", 3000 - len(suffix)) + suffix


def _state_blocks(card: Card) -> list[Block]:
    proposal, wording = card.proposal, card.wording
    who = person_mention(proposal.decided_by) if proposal.decided_by else "someone"
    when = f" {slack_date(proposal.decided_at)}" if proposal.decided_at else ""
    status = proposal.status
    if status == "pending":
        return [DividerBlock(), approval_buttons(card)]
    if status == "rejected":
        return [DividerBlock(), section(f":no_entry: Rejected by {who}{when}. {wording.nothing_done}")]
    if status == "expired":
        return [DividerBlock(), section(f":hourglass: Expired without a decision. {wording.nothing_done}")]
    if status in ("approved", "executing") or card.outcome is None:
        return [
            DividerBlock(),
            section(f":hourglass_flowing_sand: Approved by {who}{when}. {wording.running}"),
        ]
    icon = ":x:" if status == "failed" else ":white_check_mark:"
    summary = _fit(f"{icon} Approved by {who}{when}. {escape_text(card.outcome.summary)}", 3000)
    return [DividerBlock(), section(summary), *_outcome_blocks(card.outcome)]


def _outcome_blocks(outcome: OutcomeView) -> list[Block]:
    rows = [
        f"{_ICONS.get(o.status, ':x:')} {escape_text(truncate(o.label, 120))}: "
        f"*{escape_text(o.status.replace('_', ' '))}* — {escape_text(truncate(o.reason, 160))}"
        for o in outcome.items[:OUTCOME_ITEMS]
    ]
    more = len(outcome.items) - len(rows)
    if more > 0:
        rows.append(f"…and {more} more (see the audit log).")
    blocks: list[Block] = [section(chunk) for chunk in split_mrkdwn("\n".join(rows))] if rows else []
    if outcome.notes:
        blocks.append(context(_fit(" · ".join(escape_text(n) for n in outcome.notes), 2000)))
    return blocks


def approval_buttons(card: Card) -> ActionsBlock:
    """Approve and Reject with their confirm dialogs; the Home tab shows the very same buttons."""
    proposal, wording = card.proposal, card.wording
    approve = ButtonElement(
        text="Approve",
        action_id=APPROVE_ACTION,
        value=proposal.id,
        style="primary",
        confirm=ConfirmObject(
            title=truncate(wording.confirm_title, 100),
            text=truncate(wording.confirm_text, 300),
            confirm=truncate(wording.verb, 30),
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
            title="Reject this proposal?",
            text=truncate(wording.nothing_will, 300),
            confirm="Reject",
            deny="Cancel",
        ),
    )
    return ActionsBlock(block_id=f"proposal:{proposal.id}", elements=[approve, reject])


def _code_block(text: str, change_id: str, *, limit: int = 2800) -> str:
    """Untrusted text (a stack file diff) as an escaped code block; cut when long, saying where it is."""
    body = escape_text(text).replace("```", "`\u200b``")
    if len(body) > limit:
        body = _fit(body, limit) + f"\n(cut: `regent apply {change_id}` prints it whole)"
    return f"```\n{body}\n```"


def _fact(fact: Fact) -> str:
    """`*name* value` with the value escaped (a code span when the kind asks for one)."""
    value = inline_code(fact.value) if fact.code else escape_text(fact.value)
    return f"*{escape_text(fact.name)}* {value}"


def person_mention(user: str) -> str:
    """A Slack user id as a mention; anyone else (`cli:alice`, `regent`) as plain text."""
    return f"<@{user}>" if _SLACK_USER.fullmatch(user) else escape_text(user)


def _fit(text: str, limit: int) -> str:
    """Cut already-escaped mrkdwn to `limit` characters without splitting an entity (`&amp;`)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(len(cut) - 5, 0))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"
