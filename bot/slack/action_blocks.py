"""Approval cards for stored actions (a Portainer user suspension, a ticket), and the card dispatch.

Same rules as deletion cards (bot/slack/blocks.py): drawn only from the stored action, buttons carry only
the proposal id and ask for confirmation, the card is re-rendered in place as the proposal moves on. Every
item is listed: on the card up to CARD_ITEMS, the rest in the card's thread.
"""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject, DividerBlock

from bot.approvals import ActionCard, ProposalCard
from bot.slack.blocks import (
    APPROVE_ACTION,
    REJECT_ACTION,
    Message,
    card_message,
    context,
    header,
    item_list_messages,
    section,
    slack_date,
)
from bot.slack.mrkdwn import escape_text, split_mrkdwn, truncate

CARD_ITEMS = 15
_VERB = {"portainer_user_suspension": "Suspend", "ticket": "Create ticket"}
_NOTHING = {
    "portainer_user_suspension": "Nothing was changed in Portainer.",
    "ticket": "No ticket was created.",
}
_ICONS = {"done": ":white_check_mark:", "already_gone": ":heavy_minus_sign:", "skipped": ":warning:"}


def any_card_message(card: ProposalCard | ActionCard, *, note: str | None = None) -> Message:
    """The approval card of any proposal: a deletion plan or a stored action."""
    if isinstance(card, ActionCard):
        return action_card_message(card, note=note)
    return card_message(card, note=note)


def any_item_list_messages(card: ProposalCard | ActionCard) -> list[Message]:
    """Thread replies listing every item the card could not show; empty if all fit."""
    if isinstance(card, ActionCard):
        return action_item_messages(card)
    return item_list_messages(card)


def action_card_message(card: ActionCard, *, note: str | None = None) -> Message:
    """The card of an action proposal in any state: buttons while pending, item outcomes after."""
    proposal = card.proposal
    title = truncate(f"Proposal: {card.title}", 150)
    target = " · ".join(f"*{escape_text(k)}* {escape_text(v)}" for k, v in card.target)
    blocks: list[Block] = [
        header(title),
        section(
            f"*Requested by* <@{escape_text(proposal.requester)}> · {target} · "
            f"*Expires* {slack_date(proposal.expires_at)}"
        ),
        section(truncate(f"*Reason:* {escape_text(card.reason or '(none given)')}", 3000)),
        section(_item_lines(card)),
    ]
    if card.warnings:
        blocks.append(context(truncate(" · ".join(escape_text(w) for w in card.warnings), 2000)))
    blocks.append(
        context(
            f"Proposal `{escape_text(proposal.id)}` · action `{escape_text(proposal.action_id or '')}` · "
            f"items `{escape_text(proposal.items_hash[:19])}`"
        )
    )
    blocks.extend(_state_blocks(card))
    if note:
        blocks.append(context(note))
    return Message(blocks, title)


def _item_lines(card: ActionCard) -> str:
    lines = [f"{i}. {escape_text(label)}" for i, label in enumerate(card.items[:CARD_ITEMS], start=1)]
    more = card.item_count - CARD_ITEMS
    suffix = f"\n…and {more} more; every item is listed in this thread." if more > 0 else ""
    return (
        truncate(f"*Changes* ({card.item_count}, exactly these and nothing else)\n" + "\n".join(lines), 2900)
        + suffix
    )


def _state_blocks(card: ActionCard) -> list[Block]:
    proposal = card.proposal
    who = f"<@{escape_text(proposal.decided_by)}>" if proposal.decided_by else "someone"
    when = f" {slack_date(proposal.decided_at)}" if proposal.decided_at else ""
    nothing = _NOTHING.get(card.kind, "Nothing was changed.")
    status = proposal.status
    if status == "pending":
        return [DividerBlock(), _buttons(card)]
    if status == "rejected":
        return [DividerBlock(), section(f":no_entry: Rejected by {who}{when}. {nothing}")]
    if status == "expired":
        return [DividerBlock(), section(f":hourglass: Expired without a decision. {nothing}")]
    if status in ("approved", "executing") or not card.outcomes:
        return [DividerBlock(), section(f":hourglass_flowing_sand: Approved by {who}{when}. Running now…")]
    icon = ":x:" if status == "failed" else ":white_check_mark:"
    rows = [
        f"{_ICONS.get(o.status, ':x:')} {escape_text(truncate(o.label, 120))}: *{o.status.replace('_', ' ')}*"
        f" — {escape_text(truncate(o.reason, 160))}"
        for o in card.outcomes[:CARD_ITEMS]
    ]
    more = len(card.outcomes) - len(rows)
    outcome = "\n".join(rows) + (f"\n…and {more} more (see the audit log)." if more > 0 else "")
    return [
        DividerBlock(),
        section(truncate(f"{icon} Approved by {who}{when}. {escape_text(card.message)}", 3000)),
        section(truncate(outcome, 3000)),
    ]


def _buttons(card: ActionCard) -> ActionsBlock:
    proposal = card.proposal
    verb = _VERB.get(card.kind, "Run")
    approve = ButtonElement(
        text="Approve",
        action_id=APPROVE_ACTION,
        value=proposal.id,
        style="primary",
        confirm=ConfirmObject(
            title=truncate(f"{verb}: {card.item_count} change{'s' if card.item_count != 1 else ''}?", 100),
            text=truncate(f"{card.title}. Each item is re-checked just before it is done.", 300),
            confirm=truncate(verb, 30),
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
            text=_NOTHING.get(card.kind, "Nothing will change.").replace("was", "will be"),
            confirm="Reject",
            deny="Cancel",
        ),
    )
    return ActionsBlock(block_id=f"proposal:{proposal.id}", elements=[approve, reject])


def action_item_messages(card: ActionCard) -> list[Message]:
    """Every item as thread replies when the card could not list them all."""
    if card.item_count <= CARD_ITEMS:
        return []
    lines = [f"{i}. {escape_text(label)}" for i, label in enumerate(card.items, start=1)]
    intro = f"All {card.item_count} changes of proposal `{escape_text(card.proposal.id)}`:"
    sections = [intro, *split_mrkdwn("\n".join(lines))]
    return [Message([section(s) for s in sections[i : i + 40]], intro) for i in range(0, len(sections), 40)]
