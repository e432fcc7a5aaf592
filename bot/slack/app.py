"""The Bolt app: thin listeners that ack at once and hand the work to bounded pools.

`process_before_response=True` makes Bolt ack on the request thread after the listener returns, so the
listeners do nothing slow: they parse, de-duplicate, submit, return (design invariant 7). Questions go to
the `answers` pool (LLM, bounded); clicks and slash commands to the `tasks` pool, so a flood of questions
never delays an approval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_sdk import WebClient

from bot.approvals import Authorizer, ProposalStore
from bot.slack.approval_flow import ApprovalDesk, Click, click_from_body
from bot.slack.assistant import greet_thread, set_thread_title
from bot.slack.blocks import notice_message, report_message
from bot.slack.cards import APPROVE_ACTION, REJECT_ACTION
from bot.slack.commands import (
    SUBCOMMANDS,
    CommandBackend,
    CommandRequest,
    help_report,
    parse_command,
    run_command,
)
from bot.slack.conversation import BUSY, Answerer, Question, answer_question, new_reference, strip_mentions
from bot.slack.dedupe import EventDeduper
from bot.slack.payloads import as_dict, text_of
from bot.slack.streaming import StreamSupport
from bot.slack.work import WorkPool

log = logging.getLogger(__name__)
SLASH_COMMAND = "/regent"


class _NoTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and then warns that our client (which has it) wins; noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop only that warning."""
        return "`token` will be unused" not in record.getMessage()


class HomeClicks(Protocol):
    """The App Home tab (bot/slack/home.py registers itself): decides a click made on it, re-renders."""

    def handle_click(self, click: Click) -> None:
        """Decide through the approval desk, then publish the clicker's tab again."""
        ...


@dataclass(slots=True)
class SlackServices:
    """What the Slack app is built from; the composition root (bot/commands/serve.py) fills it."""

    proposals: ProposalStore
    authorizer: Authorizer
    deduper: EventDeduper
    agent: Answerer | None = None
    commands: CommandBackend | None = None
    answer_workers: int = 4
    answer_queue: int = 64
    task_workers: int = 4


class RegentSlack:
    """The Bolt app with its pools and approval desk; close() waits for running work."""

    def __init__(self, *, client: WebClient, services: SlackServices, signing_secret: str | None) -> None:
        self.client = client
        self.services = services
        self.answers = WorkPool(name="answers", workers=services.answer_workers, queue=services.answer_queue)
        self.tasks = WorkPool(name="tasks", workers=services.task_workers, queue=256)
        self._bolt_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="regent-bolt")
        self.desk = ApprovalDesk(
            client=client,
            proposals=services.proposals,
            authorizer=services.authorizer,
        )
        self.home: HomeClicks | None = None  # set by bot.slack.home.register_home
        self.streams = StreamSupport()  # whether this workspace streams answers (learned on first try)
        bolt_log = logging.getLogger("slack_bolt.App")
        if not any(isinstance(f, _NoTokenWarning) for f in bolt_log.filters):
            bolt_log.addFilter(_NoTokenWarning())
        self.app = App(
            client=client,
            signing_secret=signing_secret or "",
            request_verification_enabled=signing_secret is not None,  # Socket Mode has no signatures
            process_before_response=True,
            listener_executor=self._bolt_pool,
            raise_error_for_unhandled_request=False,
        )
        self._register()

    def close(self) -> None:
        """Finish running work, then stop the pools."""
        self.answers.shutdown(wait=True)
        self.tasks.shutdown(wait=True)
        self._bolt_pool.shutdown(wait=True)
        self.services.deduper.close()

    def _register(self) -> None:
        app = self.app
        app.use(self._dedupe)
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("assistant_thread_started")(self._on_thread_started)
        app.event("assistant_thread_context_changed")(self._on_ignored)
        app.action(APPROVE_ACTION)(self._on_approve)
        app.action(REJECT_ACTION)(self._on_reject)
        app.command(SLASH_COMMAND)(self._on_command)
        app.error(self._on_error)

    # -- middleware and listeners (fast: parse, submit, return) ------------------------------------------

    def _dedupe(self, body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self.services.deduper.first_time(str(event_id)):
            log.info("duplicate event %s dropped", event_id)
            return BoltResponse(status=200, body="")
        next()
        return None

    def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
        root = str(event.get("thread_ts") or ts)
        self._ask(
            Question(
                channel=channel,
                thread_ts=root,
                user=str(event.get("user", "")),
                text=strip_mentions(str(event.get("text", ""))),
                conversation=f"slack:{body.get('team_id', '')}:{channel}:{root}",
                assistant=False,
                team=text_of(body.get("team_id")),
            )
        )

    def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, our own posts, channel chatter: nothing to answer
        channel = str(event.get("channel", ""))
        thread = event.get("thread_ts")
        question = Question(
            channel=channel,
            thread_ts=str(thread) if thread else None,
            user=str(event.get("user", "")),
            text=strip_mentions(str(event.get("text", ""))),
            conversation=f"slack:{body.get('team_id', '')}:{channel}:{thread or 'dm'}",
            assistant=thread is not None,
            team=text_of(body.get("team_id")),
        )
        if question.assistant and question.thread_ts:
            self.tasks.submit(lambda: set_thread_title(self.client, question))
        self._ask(question)

    def _on_thread_started(self, event: dict[str, Any]) -> None:
        thread = as_dict(event.get("assistant_thread"))
        channel, ts = text_of(thread.get("channel_id")), text_of(thread.get("thread_ts"))
        self.tasks.submit(lambda: greet_thread(self.client, channel=channel, thread_ts=ts))

    def _on_ignored(self) -> None:
        """Acknowledged and ignored (the thread context is not used yet)."""

    def _on_approve(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        self._click(body, "approve")

    def _on_reject(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        self._click(body, "reject")

    def _on_command(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        name, argument = parse_command(str(body.get("text", "")))
        if name == "help" or name not in SUBCOMMANDS:
            report = help_report(unknown=None if name == "help" else name)
            ack(response_type="ephemeral", **report_message(report).payload())
            return
        backend = self.services.commands
        if backend is None:
            ack(response_type="ephemeral", text="Commands are not configured on this Regent.")
            return
        request = CommandRequest(
            name=name,
            argument=argument,
            user=str(body.get("user_id", "")),
            channel=str(body.get("channel_id", "")),
            team=str(body.get("team_id", "")),
        )
        accepted = self.tasks.submit(
            lambda: run_command(
                request,
                backend=backend,
                respond=respond,
                post_cards=self.desk.post_cards,
                reference=new_reference,
                upload=self._upload,
            )
        )
        ack(response_type="ephemeral", text=f"Working on `/regent {name}`…" if accepted else BUSY)

    def _upload(self, channel: str, name: str, content: bytes, title: str) -> None:
        """Upload a document to a channel (Slack's external upload flow, through files_upload_v2)."""
        self.client.files_upload_v2(channel=channel, filename=name, content=content, title=title)

    def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener (%s)", type(error).__name__, exc_info=error)

    # -- hand-offs ---------------------------------------------------------------------------------------

    def _ask(self, question: Question) -> None:
        if not question.text:
            return
        work = lambda: answer_question(  # noqa: E731
            question,
            client=self.client,
            agent=self.services.agent,
            post_cards=self.desk.post_cards,
            streams=self.streams,
        )
        if not self.answers.submit(work):
            busy = notice_message(BUSY)
            self.tasks.submit(
                lambda: self.client.chat_postMessage(
                    channel=question.channel, thread_ts=question.thread_ts, **busy.payload()
                )
            )

    def _click(self, body: dict[str, Any], decision: Literal["approve", "reject"]) -> None:
        click = click_from_body(body, decision=decision)
        home = self.home if click.home else None
        if home is not None:  # the same desk path, then the clicker's Home tab is published again
            accepted = self.tasks.submit(lambda: home.handle_click(click))
        else:
            accepted = self.tasks.submit(lambda: self.desk.handle_click(click, reference=new_reference))
        if not accepted:
            log.error("tasks pool full: click on %s dropped", click.proposal_id)
