"""Questions asked in Slack (mentions, DMs, assistant threads), answered by the agent off the request thread.

Runs on a worker: shows progress (assistant status, or a placeholder message it keeps updated), calls the
agent once, posts the answer split within Block Kit limits, then posts an approval card for every
proposal the agent made. With a streaming LLM the answer appears as it is written (bot/slack/streaming.py:
Slack's streaming messages, or the placeholder updated at a bounded rate). Failures reach the user as one
short line with a reference id that is in the log.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.agent.streaming import AnswerStream
from bot.slack.blocks import Message, answer_messages, notice_message
from bot.slack.mrkdwn import escape_text, truncate
from bot.slack.streaming import AnswerWriter, StreamSupport

log = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
STATUS_INTERVAL = 1.5  # seconds between progress updates of a placeholder (chat.update is rate limited)
LOOKING = "_Looking into it…_"
NO_LLM = (
    "No language model is configured, so I can only answer slash commands for now. "
    "Try `/regent help`: image details, stale images, storage usage and cleanup plans all work without one."
)
FAILED = "Something went wrong on my side while answering."
WITHOUT_LLM = "`/regent help` lists the commands that work without a language model."
BUSY = "I am answering many questions right now; please ask again in a minute."


class AgentReply(Protocol):
    """What bot.agent's Agent.answer returns (only the fields the Slack side reads)."""

    @property
    def text(self) -> str: ...
    @property
    def proposal_ids(self) -> list[str]: ...
    @property
    def reference(self) -> str: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


class Answerer(Protocol):
    """bot.agent.loop.Agent, as the Slack side uses it."""

    def answer(
        self,
        *,
        conversation: str,
        user: str,
        text: str,
        status: Callable[[str], None] | None = None,
        stream: AnswerStream | None = None,
    ) -> AgentReply: ...


@dataclass(frozen=True, slots=True)
class Question:
    """One question and where its answer goes."""

    channel: str
    thread_ts: str | None  # reply in this thread; None: top level (a plain DM)
    user: str
    text: str
    conversation: str
    assistant: bool  # an assistant thread: progress via assistant.threads.setStatus
    team: str = ""  # the asker's workspace (a stream into a channel names its recipient)


def new_reference() -> str:
    """A short id that ties what a user sees to a log line."""
    return secrets.token_hex(4)


def strip_mentions(text: str) -> str:
    """The question without `<@BOT>` mentions."""
    return _MENTION.sub("", text).strip()


def answer_question(
    question: Question,
    *,
    client: WebClient,
    agent: Answerer | None,
    post_cards: Callable[[list[str], str, str | None], None],
    streams: StreamSupport | None = None,
) -> None:
    """Answer one question end to end (runs on a worker thread); `streams`: show it as it is written."""
    if agent is None:
        post_messages(client, question, [notice_message(NO_LLM)])
        return
    progress = Progress(client, question)
    progress.start()
    writer = AnswerWriter(client, question, progress, streams) if streams is not None else None
    try:
        reply = agent.answer(
            conversation=question.conversation,
            user=question.user,
            text=question.text,
            status=progress.update,
            stream=writer,
        )
    except Exception:  # Agent.answer promises not to raise; if it does, the user still gets one line
        reference = new_reference()
        log.exception("answering failed (reference %s)", reference)
        if writer is not None:
            writer.discard()
        progress.finish([notice_message(f"{FAILED} {WITHOUT_LLM}", reference=reference)])
        return
    if reply.error:
        # The agent logged the details under this reference; the user gets its short reason.
        if writer is not None:
            writer.discard()
        text = f"{escape_text(truncate(reply.error, 300))} {WITHOUT_LLM}"
        progress.finish([notice_message(text, reference=reply.reference)])
    else:
        notes = ["Answer cut short: ask a narrower question for the rest."] if reply.truncated else []
        if writer is None or not writer.complete(reply.text, notes):
            progress.finish(answer_messages(reply.text, notes=notes))
    if reply.proposal_ids:
        post_cards(list(reply.proposal_ids), question.channel, question.thread_ts)


class Progress:
    """Shows that work is under way, then turns into the answer."""

    def __init__(self, client: WebClient, question: Question) -> None:
        self._client, self._question = client, question
        self._placeholder: str | None = None
        self._last = 0.0
        self._live = False  # the placeholder shows the answer being written: status lines leave it alone
        self._lock = threading.Lock()

    def start(self) -> None:
        """Assistant threads get a status line; elsewhere a placeholder message that is later replaced."""
        q = self._question
        try:
            if q.assistant and q.thread_ts:
                self._client.assistant_threads_setStatus(
                    channel_id=q.channel, thread_ts=q.thread_ts, status="is looking into it…"
                )
            else:
                posted = self._client.chat_postMessage(channel=q.channel, thread_ts=q.thread_ts, text=LOOKING)
                self._placeholder = str(posted["ts"])
        except SlackApiError as exc:
            log.warning("could not show progress: %s", exc.response.get("error"))
        self._last = time.monotonic()

    def update(self, status: str) -> None:
        """A status line from the agent (throttled; never raises into the agent)."""
        q = self._question
        with self._lock:
            now = time.monotonic()
            if now - self._last < STATUS_INTERVAL:
                return
            self._last = now
        text = truncate(status.replace("\n", " "), 150)
        try:
            if q.assistant and q.thread_ts:
                self._client.assistant_threads_setStatus(
                    channel_id=q.channel, thread_ts=q.thread_ts, status=text
                )
            elif self._placeholder and not self._live:
                # chat.update text without blocks is mrkdwn: keep it plain by stripping control characters.
                safe = text.replace("&", "and").replace("<", "").replace(">", "")
                ellipsis = "" if safe.endswith(("…", "...")) else "…"
                self._client.chat_update(channel=q.channel, ts=self._placeholder, text=f"_{safe}{ellipsis}_")
        except SlackApiError as exc:
            log.info("status update failed: %s", exc.response.get("error"))

    def show_text(self, payload: dict[str, Any], *, min_interval: float) -> None:
        """The answer so far in the placeholder (posted now if there is none), at most once per interval."""
        q = self._question
        with self._lock:
            self._live = True  # from now on status lines stay out of the placeholder
            now = time.monotonic()
            if now - self._last < min_interval:  # shared with status updates: one chat.update a second
                return
            self._last = now
        try:
            if self._placeholder:
                self._client.chat_update(channel=q.channel, ts=self._placeholder, **payload)
            else:  # an assistant thread has only its status: the partial answer is the first post
                posted = self._client.chat_postMessage(channel=q.channel, thread_ts=q.thread_ts, **payload)
                self._placeholder = str(posted["ts"])
        except SlackApiError as exc:
            log.info("could not show the answer so far: %s", exc.response.get("error"))

    def reset_text(self) -> None:
        """What the placeholder showed was not the answer: back to the progress line."""
        self._live = False
        if self._placeholder:
            try:
                self._client.chat_update(channel=self._question.channel, ts=self._placeholder, text=LOOKING)
            except SlackApiError as exc:
                log.info("could not reset the placeholder: %s", exc.response.get("error"))

    def drop_placeholder(self) -> None:
        """The answer streamed as its own message: the placeholder goes."""
        ts, self._placeholder = self._placeholder, None
        if ts:
            try:
                self._client.chat_delete(channel=self._question.channel, ts=ts)
            except SlackApiError as exc:
                log.info("could not delete the placeholder: %s", exc.response.get("error"))

    def finish(self, messages: list[Message]) -> None:
        """Replace the placeholder with the first message and post the rest."""
        q = self._question
        rest = messages
        if self._placeholder and messages:
            try:
                self._client.chat_update(channel=q.channel, ts=self._placeholder, **messages[0].payload())
                rest = messages[1:]
            except SlackApiError as exc:
                log.warning("could not replace the placeholder: %s", exc.response.get("error"))
        post_messages(self._client, q, rest)


def post_messages(client: WebClient, question: Question, messages: list[Message]) -> None:
    """Post messages in order into the question's thread."""
    for message in messages:
        client.chat_postMessage(channel=question.channel, thread_ts=question.thread_ts, **message.payload())
