"""The App Home tab: published when a user opens it, and again after they click a button on it.

The proposals shown are those still pending that the Authorizer lets this user approve (the cards'
rules: an approver, not their own request unless allowed, not in read-only mode). Its Approve and
Reject buttons are the cards' buttons (same action ids, same value), and a click on them goes through
ApprovalDesk.handle_click like a click on a card: one decision path, one execution, one audit trail.
The registry figures come from a HomeSource (the digest's, composed in bot/serve/home.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvals import Authorizer, Decision, Proposal, ProposalStore
from bot.digest.home import HomeFacts
from bot.slack.app import RegentSlack
from bot.slack.approval_flow import ApprovalDesk, Click
from bot.slack.conversation import new_reference
from bot.slack.home_blocks import HOME_PROPOSALS, HomeContent, WaitingProposal, home_view
from bot.slack.payloads import text_of

log = logging.getLogger(__name__)


class HomeSource(Protocol):
    """The digest-derived figures of the Home tab."""

    def facts(self) -> HomeFacts | None:
        """The figures now; None before the first inventory. May raise (the tab then says so)."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HomeTab:
    """Builds and publishes each user's Home tab; routes the clicks made on it to the approval desk."""

    def __init__(
        self,
        *,
        client: WebClient,
        proposals: ProposalStore,
        authorizer: Authorizer,
        desk: ApprovalDesk,
        source: HomeSource | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._client = client
        self._proposals = proposals
        self._authorizer = authorizer
        self._desk = desk
        self._source = source
        self._clock = clock

    def publish(self, user: str, *, notice: str | None = None) -> None:
        """Render this user's Home tab and publish it (views.publish); failures are logged only."""
        if not user:
            return
        view = home_view(self.content(user, notice=notice))
        try:
            self._client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("could not publish the Home tab of %s: %s", user, exc.response.get("error"))

    def handle_click(self, click: Click) -> None:
        """A button on the Home tab: the cards' own path, then the tab again (at once, and when done)."""
        decision = self._desk.handle_click(
            click,
            reference=new_reference,
            decided=lambda d: self.publish(click.user, notice=_decided_notice(d)),
        )
        if decision.outcome == "approved":
            current = self._proposals.get(click.proposal_id)
            status = current.status if current else "unknown"
            self.publish(click.user, notice=f"Proposal {click.proposal_id} was approved; it is now {status}.")

    def content(self, user: str, *, notice: str | None = None) -> HomeContent:
        """What this user's tab shows now."""
        now = self._clock()
        pending = [p for p in self._proposals.pending() if p.expires_at > now]
        # One probe with nobody as the requester says whether the user may approve at all.
        probe = self._authorizer.authorize(user=user, requester="", decision="approve")
        mine = [p for p in pending if probe.allowed and self._may_approve(user, p)]
        facts, note = self._facts()
        return HomeContent(
            now=now,
            waiting=[self._waiting(p) for p in mine[:HOME_PROPOSALS]],
            waiting_total=len(mine),
            pending_total=len(pending),
            why_none=None if probe.allowed else probe.reason,
            facts=facts,
            facts_note=note,
            notice=notice,
        )

    def _may_approve(self, user: str, proposal: Proposal) -> bool:
        return self._authorizer.authorize(user=user, requester=proposal.requester, decision="approve").allowed

    def _waiting(self, proposal: Proposal) -> WaitingProposal:
        try:
            return WaitingProposal(proposal, self._proposals.card(proposal))
        except Exception:  # a stored change that is gone or fails its hash: listed, without buttons
            log.warning("Home tab: the card of %s cannot be built", proposal.id, exc_info=True)
            return WaitingProposal(proposal, None)

    def _facts(self) -> tuple[HomeFacts | None, str | None]:
        if self._source is None:
            return None, "Registry figures are not available in this process."
        try:
            return self._source.facts(), None
        except Exception:
            reference = new_reference()
            log.exception("Home tab: the registry figures failed (reference %s)", reference)
            return None, f"The registry figures could not be computed (reference {reference})."


def _decided_notice(decision: Decision) -> str:
    if decision.outcome == "approved":
        return f"{decision.message} The change is running; its card shows the outcome."
    return decision.message


def register_home(slack: RegentSlack, tab: HomeTab) -> None:
    """Publish the tab on app_home_opened (on the tasks pool) and route clicks made on it to `tab`."""

    def on_opened(event: dict[str, Any]) -> None:
        if event.get("tab") != "home":  # the Messages tab opens the DM, nothing to render
            return
        user = text_of(event.get("user"))
        if not slack.tasks.submit(lambda: tab.publish(user)):
            log.warning("tasks pool full: Home tab of %s not published", user)

    slack.home = tab
    slack.app.event("app_home_opened")(on_opened)
