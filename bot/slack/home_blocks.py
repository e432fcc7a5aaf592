"""The App Home tab in Block Kit (slack_sdk models): pure, from what bot/slack/home.py gathered.

What waits for the user's approval comes first (with the very buttons of the approval cards, so a click
takes the cards' path), then the digest's totals and trend, the last digest's headline and the top
reclaimable repositories. A Home tab holds at most 100 blocks: the proposals get what the rest leaves,
at most HOME_PROPOSALS of them, and the view says how many more wait. Every outside string is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import Block, DividerBlock
from slack_sdk.models.views import View

from bot.approvals import Card, Proposal
from bot.digest import format as fmt
from bot.digest.home import HomeFacts
from bot.slack.blocks import context, header, section, slack_date
from bot.slack.cards import approval_buttons, person_mention
from bot.slack.digest_blocks import section_blocks
from bot.slack.mrkdwn import escape_text, format_table, truncate

MAX_HOME_BLOCKS = 100
HOME_PROPOSALS = 20  # shown at most; the oldest first, like the digest's proposals section
HOME_CALLBACK = "regent_home"
_PER_PROPOSAL = 2  # its section and its buttons


@dataclass(frozen=True, slots=True)
class WaitingProposal:
    """A pending proposal this user may approve; `card` is None when its stored change cannot be shown."""

    proposal: Proposal
    card: Card | None


@dataclass(frozen=True, slots=True)
class HomeContent:
    """Everything one user's Home tab shows."""

    now: datetime
    waiting: Sequence[WaitingProposal]  # the first ones (at most HOME_PROPOSALS), oldest first
    waiting_total: int  # how many wait for this user in all
    pending_total: int  # pending in the workspace, whoever may decide them
    why_none: str | None = None  # this user may approve nothing, and why (not an approver, read-only)
    facts: HomeFacts | None = None
    facts_note: str | None = None  # why there are no facts (no inventory yet, or they failed)
    notice: str | None = None  # the outcome of the user's last click here (our own text)


def home_view(content: HomeContent) -> View:
    """The Home tab for one user, within Slack's limits whatever the number of proposals."""
    top: list[Block] = [header("Regent"), context(_updated(content))]
    if content.notice:
        top.append(section(truncate(escape_text(content.notice), 3000)))
    rest = [*_facts_blocks(content), *_last_digest_blocks(content.facts), *_reclaimable_blocks(content.facts)]
    room = MAX_HOME_BLOCKS - len(top) - len(rest)
    blocks = [*top, *_approval_blocks(content, room=room), *rest]
    return View(type="home", callback_id=HOME_CALLBACK, blocks=blocks[:MAX_HOME_BLOCKS])


def _updated(content: HomeContent) -> str:
    return (
        f"Updated {slack_date(content.now)}. Nothing is deleted until an approver clicks Approve; "
        "the buttons here are the approval cards' own."
    )


def _approval_blocks(content: HomeContent, *, room: int) -> list[Block]:
    """The proposals that wait for this user, as many as `room` blocks allow, and how many more."""
    title = f"*Waiting for your approval* ({content.waiting_total})"
    if content.why_none:
        text = f"{escape_text(content.why_none)} {content.pending_total} proposals are pending in all."
        return [section(title), context(truncate(text, 2000))]
    if not content.waiting_total:
        return [section(f"{title}\n_Nothing waits for your approval._")]
    fits = max(0, (room - 2) // _PER_PROPOSAL)  # 2: the title and the "more" line
    shown = list(content.waiting[: min(fits, HOME_PROPOSALS)])
    blocks: list[Block] = [section(title)]
    for waiting in shown:
        blocks.extend(_proposal_blocks(waiting))
    more = content.waiting_total - len(shown)
    if more > 0:
        blocks.append(
            context(
                f"…and {more} more waiting for you (the oldest are shown here). Each has its card, with "
                "the same buttons, in the thread where it was proposed."
            )
        )
    return blocks


def _proposal_blocks(waiting: WaitingProposal) -> list[Block]:
    proposal, card = waiting.proposal, waiting.card
    title = escape_text(truncate(card.title if card else proposal.kind, 150))
    text = (
        f"*{title}*\n{escape_text(truncate(proposal.summary, 600))}\n"
        f"Requested by {person_mention(proposal.requester)} · expires {slack_date(proposal.expires_at)} · "
        f"proposal `{escape_text(proposal.id)}`"
    )
    if card is None:
        return [section(text), context("Its stored change cannot be shown here; see its card.")]
    return [section(text), approval_buttons(card)]


def _facts_blocks(content: HomeContent) -> list[Block]:
    facts = content.facts
    if facts is None:
        note = content.facts_note or "No inventory yet: run `regent inventory` (or wait for the next crawl)."
        return [DividerBlock(), section("*Registry totals and trend*"), context(escape_text(note))]
    blocks: list[Block] = [DividerBlock(), section("*Registry totals and trend*")]
    for digest_section in facts.sections():
        blocks.extend(section_blocks(digest_section))
    return blocks


def _last_digest_blocks(facts: HomeFacts | None) -> list[Block]:
    if facts is None:
        return []
    last = facts.last
    if last is None:
        return [DividerBlock(), section("*Last digest*\n_No digest has been sent yet._")]
    where = f" in <#{last.channel}>" if last.channel and last.channel[:1] in "CG" else ""
    lines = "\n".join(f"• {escape_text(line)}" for line in last.headline) or "_(no headline stored)_"
    text = truncate(f"*Last digest*, sent {slack_date(last.sent_at)}{where}\n{lines}", 3000)
    return [DividerBlock(), section(text)]


def _reclaimable_blocks(facts: HomeFacts | None) -> list[Block]:
    if facts is None:
        return []
    if not facts.reclaimable:
        why = (
            "The retention policies delete nothing now."
            if facts.policies
            else "No retention policies are configured (`policies_file`), so there is no plan."
        )
        return [DividerBlock(), section(f"*Top reclaimable repositories*\n_{why}_")]
    rows = [[r.registry, r.repository, str(r.manifests), r.size] for r in facts.reclaimable]
    table = format_table(["registry", "repository", "manifests", "frees"], rows, right=[2, 3])
    note = (
        f"The retention plan: {facts.plan_manifests} manifests in {facts.repositories_in_plan} repositories, "
        f"{fmt.size(facts.plan_bytes)} after garbage collection (layers shared between repositories count "
        "only in that total). Ask Regent, or use the digest's button, to turn it into a proposal."
    )
    return [DividerBlock(), section(f"*Top reclaimable repositories*\n{table}"), context(note)]
