"""The digest's "Turn into a proposal" button: the stored plan becomes a proposal with an approval card.

The button carries only the plan id (design invariant 1): the click loads the stored plan (checked
against its hash), refuses a plan older than a day (the next digest has a fresh one), and creates at most
one proposal per plan however many people click; the approval card goes into the digest's thread, and
from there the usual approval flow (bot/slack/approval_flow.py) decides and executes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvals import ProposalStore
from bot.approvals.store import PlanLookup, ProposalStatus
from bot.digest.model import PROPOSE_ACTION
from bot.slack.app import RegentSlack
from bot.slack.approval_flow import ApprovalDesk
from bot.slack.payloads import as_dict, first_action, first_text_of, text_of

log = logging.getLogger(__name__)
MAX_PLAN_AGE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ProposeClick:
    """One click on the digest's proposal button."""

    plan_id: str
    user: str
    team: str
    channel: str | None
    message_ts: str | None


def propose_click_from_body(body: dict[str, Any]) -> ProposeClick:
    """Read the click from Slack's block_actions payload."""
    container = as_dict(body.get("container"))
    return ProposeClick(
        plan_id=text_of(first_action(body).get("value")),
        user=text_of(as_dict(body.get("user")).get("id")),
        team=text_of(as_dict(body.get("team")).get("id")),
        channel=first_text_of(container.get("channel_id"), as_dict(body.get("channel")).get("id")),
        message_ts=first_text_of(container.get("message_ts")),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DigestProposals:
    """Turns clicks into proposals (one per plan) and posts their cards."""

    def __init__(
        self,
        *,
        client: WebClient,
        proposals: ProposalStore,
        plans: PlanLookup,
        desk: ApprovalDesk,
        ttl: timedelta,
        clock: Callable[[], datetime] = _utcnow,
        read_only: str | None = None,
    ) -> None:
        self._read_only = read_only  # why no proposal may be made (mode: read-only), or None
        self._client = client
        self._proposals = proposals
        self._plans = plans
        self._desk = desk
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()  # two quick clicks must not make two proposals

    def handle(self, click: ProposeClick) -> None:
        """Create the proposal and post its card in the digest's thread, or tell the clicker why not."""
        if self._read_only:  # a button from a digest posted before the switch to read-only
            self._tell(click, f"No proposal: {self._read_only}.")
            return
        try:
            plan = self._plans.get(click.plan_id)
        except Exception:  # unknown or tampered (PlanStoreError); bot/slack imports no tools types
            log.warning("digest button: plan %s cannot be loaded", click.plan_id, exc_info=True)
            self._tell(
                click, "This digest's cleanup plan is not stored any more; the next digest has a fresh one."
            )
            return
        if self._clock() - plan.created_at > MAX_PLAN_AGE:
            day = plan.created_at.astimezone(UTC).strftime("%Y-%m-%d")
            self._tell(
                click, f"This plan is from {day}; use the button in a newer digest, or ask Regent to plan."
            )
            return
        with self._lock:
            live = [p for p in self._proposals.for_change(plan.kind, plan.plan_id) if p.status in _LIVE]
            existing = live[0] if live else None
            if existing is None:
                existing = self._proposals.create(
                    change=plan,
                    requester=click.user,
                    conversation=f"slack:{click.team}:{click.channel}:{click.message_ts}",
                    ttl=self._ttl,
                )
                created = True
            else:
                created = False
        if not created:
            self._tell(click, f"Already proposed as {existing.id} ({existing.status}).")
            return
        if click.channel:
            self._desk.post_cards([existing.id], click.channel, click.message_ts)

    def _tell(self, click: ProposeClick, text: str) -> None:
        if not click.channel:
            return
        try:
            self._client.chat_postEphemeral(
                channel=click.channel, user=click.user, thread_ts=click.message_ts, text=text
            )
        except SlackApiError as exc:
            log.info("could not tell %s: %s", click.user, exc.response.get("error"))


# A rejected or expired proposal does not block a new one for the same plan; anything else does.
_LIVE: tuple[ProposalStatus, ...] = ("pending", "approved", "executing", "done", "failed")


def register_digest_actions(slack: RegentSlack, handler: DigestProposals) -> None:
    """Listen for the proposal button on the Bolt app: ack at once, do the work on the tasks pool."""

    def on_propose(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        click = propose_click_from_body(body)
        if not slack.tasks.submit(lambda: handler.handle(click)):
            log.error("tasks pool full: proposal click on %s dropped", click.plan_id)

    slack.app.action(PROPOSE_ACTION)(on_propose)
