"""The Slack side of approvals: post cards from stored proposals, handle Approve/Reject clicks.

The click handler runs on a worker after the ack. `ProposalStore.decide` makes the decision atomically,
so whatever the number of clicks, approvers, retries or replicas, one click wins and only that one goes
on to `ProposalStore.execute`; every other clicker is told (ephemerally) who decided first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvals import Authorizer, Decision, Proposal, ProposalStore
from bot.slack.blocks import notice_message
from bot.slack.cards import card_message, item_list_messages
from bot.slack.conversation import new_reference
from bot.slack.payloads import as_dict, first_action, first_text_of, text_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Click:
    """One Approve/Reject click, from a block_actions payload."""

    proposal_id: str
    decision: Literal["approve", "reject"]
    user: str
    channel: str | None
    message_ts: str | None
    thread_ts: str | None
    home: bool = False  # made on the App Home tab (bot/slack/home.py), not on a card


def click_from_body(body: dict[str, Any], *, decision: Literal["approve", "reject"]) -> Click:
    """Read a click from Slack's block_actions payload (the button value is only the proposal id)."""
    container = as_dict(body.get("container"))
    return Click(
        proposal_id=text_of(first_action(body).get("value")),
        decision=decision,
        user=text_of(as_dict(body.get("user")).get("id")),
        channel=first_text_of(container.get("channel_id"), as_dict(body.get("channel")).get("id")),
        message_ts=first_text_of(container.get("message_ts")),
        thread_ts=first_text_of(container.get("thread_ts")),
        home=text_of(container.get("type")) == "view"
        and text_of(as_dict(body.get("view")).get("type")) == "home",
    )


class ApprovalDesk:
    """Posts approval cards and turns clicks into decisions, executions and card updates."""

    def __init__(self, *, client: WebClient, proposals: ProposalStore, authorizer: Authorizer) -> None:
        self._client = client
        self._proposals = proposals
        self._authorizer = authorizer

    def post_cards(self, proposal_ids: list[str], channel: str, thread_ts: str | None) -> None:
        """Post one card per proposal (from the stored change); the full item list goes in its thread."""
        for proposal_id in proposal_ids:
            proposal = self._proposals.get(proposal_id)
            if proposal is None:
                log.error("proposal %s does not exist; no card posted", proposal_id)
                continue
            card = self._proposals.card(proposal)
            posted = self._client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, **card_message(card).payload()
            )
            ts = str(posted["ts"])
            self._proposals.attach_message(proposal_id=proposal_id, channel=str(posted["channel"]), ts=ts)
            for message in item_list_messages(card):
                self._client.chat_postMessage(channel=channel, thread_ts=thread_ts or ts, **message.payload())

    def handle_click(
        self,
        click: Click,
        *,
        reference: Callable[[], str],
        decided: Callable[[Decision], None] | None = None,
    ) -> Decision:
        """Decide, update the card, and for the winning approval run the change once.

        Wherever the button was (a card, the Home tab), this is the one path; `decided` hears the
        decision before the change runs (the Home tab re-renders then, and again when this returns).
        """
        decision = self._proposals.decide(
            proposal_id=click.proposal_id,
            user=click.user,
            decision=click.decision,
            authorizer=self._authorizer,
        )
        if decided is not None:
            decided(decision)
        if not decision.changed:
            self._tell(click, decision.message)
            if decision.proposal is not None and decision.outcome in ("expired", "already_decided"):
                self.update_card(decision.proposal, fallback=click)  # the card may show an older state
            return decision
        assert decision.proposal is not None
        self.update_card(decision.proposal, fallback=click)
        if decision.outcome != "approved":
            return decision
        try:
            execution = self._proposals.execute(proposal_id=click.proposal_id)
        except Exception:
            ref = reference()
            log.exception("executing proposal %s failed (reference %s)", click.proposal_id, ref)
            current = self._proposals.get(click.proposal_id) or decision.proposal
            self.update_card(
                current, fallback=click, note=f":x: Execution stopped with an error (reference `{ref}`)."
            )
            return decision
        self.update_card(execution.proposal, fallback=click)
        return decision

    def update_card(
        self, proposal: Proposal, *, fallback: Click | None = None, note: str | None = None
    ) -> None:
        """Re-render a proposal's card in place (chat.update) from its stored state."""
        channel = proposal.channel or (fallback.channel if fallback else None)
        ts = proposal.message_ts or (fallback.message_ts if fallback else None)
        if not channel or not ts:
            log.info("proposal %s has no card to update", proposal.id)
            return
        try:
            message = card_message(self._proposals.card(proposal), note=note)
        except Exception:  # the stored change is gone or no longer matches its hash: say so, no more
            ref = new_reference()
            log.exception("cannot render the card of %s (reference %s)", proposal.id, ref)
            text = f":warning: This proposal's stored change cannot be shown; it is {proposal.status}."
            message = notice_message(text, reference=ref)
        try:
            self._client.chat_update(channel=channel, ts=ts, **message.payload())
        except SlackApiError as exc:
            log.warning("could not update the card of %s: %s", proposal.id, exc.response.get("error"))

    def resume(self) -> None:
        """After a restart: execute approved proposals that never ran and refresh their cards."""
        for execution in self._proposals.resume():
            self.update_card(execution.proposal)

    def expire(self) -> None:
        """Mark overdue proposals expired and show it on their cards."""
        for proposal in self._proposals.expire_due():
            self.update_card(proposal)

    def _tell(self, click: Click, text: str) -> None:
        if not click.channel:
            return
        try:
            self._client.chat_postEphemeral(
                channel=click.channel, user=click.user, thread_ts=click.thread_ts, text=text
            )
        except SlackApiError as exc:
            log.info("could not tell %s: %s", click.user, exc.response.get("error"))
