"""Answers that appear in Slack as they are written (the agent's AnswerStream, bot/agent/streaming.py).

Where the workspace has Slack's streaming messages (chat.startStream / appendStream / stopStream), the
answer streams into the question's thread: the first text starts the stream at once, later text is
appended at most once per STREAM_INTERVAL (a burst of small pieces becomes one call), and stopStream
ends it with the notes. A workspace without them (`unknown_method`, a token type they refuse, …) is
remembered in StreamSupport, and from then on answers fall back to post-then-update: the placeholder
(posted first where the thread had none) shows the text so far, updated at most once per
UPDATE_INTERVAL, and is replaced by the formatted answer at the end (bot/slack/conversation.py). The
assistant status keeps showing the tool in use either way. Slack errors are logged, never raised: a
stream that fails falls back to the placeholder (and bot/agent/streaming.py shields the agent anyway).

The three methods are called directly rather than through slack_sdk's `chat_stream` helper: its
ChatStream flushes by buffer size only (256 characters by default), so it can neither bound the calls
per second nor show the first words before a buffer's worth has arrived.

Streamed text is Markdown (Slack renders it natively), so it is not converted to mrkdwn; it is made
safe instead: `[text](url)` links show their URL, and `<` is followed by a zero-width space so no
`<!channel>`, `<@U…>` or `<url|label>` token can form, whatever the renderer does with entities.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import answer_messages, context
from bot.slack.mrkdwn import escape_text

log = logging.getLogger(__name__)

STREAM_INTERVAL = 1.0  # seconds between appendStream calls of one answer
UPDATE_INTERVAL = 1.0  # seconds between chat.update calls of one placeholder (fallback)
# Errors that mean "this workspace or token has no streaming": stop trying for the process's lifetime.
UNSUPPORTED = frozenset(
    {"unknown_method", "not_allowed_token_type", "method_deprecated", "missing_scope", "feature_not_enabled"}
)
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
ZWSP = "\u200b"


class Asked(Protocol):
    """Where the answer goes (bot/slack/conversation.py's Question)."""

    @property
    def channel(self) -> str: ...
    @property
    def thread_ts(self) -> str | None: ...
    @property
    def user(self) -> str: ...
    @property
    def team(self) -> str: ...


class Placeholder(Protocol):
    """The progress message (bot/slack/conversation.py's Progress), as the fallback uses it."""

    def show_text(self, payload: dict[str, Any], *, min_interval: float) -> None: ...
    def reset_text(self) -> None: ...
    def drop_placeholder(self) -> None: ...


class StreamSupport:
    """Whether the workspace streams messages; learned from the first refusal, shared by every answer."""

    def __init__(self) -> None:
        self._refused: str | None = None

    @property
    def available(self) -> bool:
        """Still worth trying."""
        return self._refused is None

    def refuse(self, error: str) -> None:
        """Slack said this workspace or token cannot stream: every later answer posts and updates."""
        if self._refused is None:
            log.info("Slack refused chat.startStream (%s): answers are posted and updated instead", error)
        self._refused = error


def stream_markdown(pending: str, *, final: bool) -> tuple[int, str]:
    """How much of `pending` can go out now, and that part made safe.

    A `[` on the unfinished last line may open a link whose URL has not arrived: it waits, so every
    link is rewritten whole. Complete lines, and everything once `final`, go out.
    """
    take = len(pending)
    if not final:
        start = pending.rfind("\n") + 1
        while (bracket := pending.find("[", start)) != -1:
            link = _MD_LINK.match(pending, bracket)
            if link is None:  # maybe a link whose end has not arrived: wait for it (or the line's end)
                take = bracket
                break
            start = link.end()
    safe = _MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", pending[:take])
    return take, safe.replace("<", "<" + ZWSP)


class AnswerWriter:
    """One answer's live text in Slack: streamed, or shown in the placeholder (bounded updates)."""

    def __init__(
        self,
        client: WebClient,
        question: Asked,
        progress: Placeholder,
        support: StreamSupport,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._question, self._progress = client, question, progress
        self._support, self._clock = support, clock
        self._lock = threading.Lock()
        self._mode: Literal["idle", "stream", "update"] = "idle"
        self._text = ""  # written since the last retract
        self._sent = 0  # how much of it the Slack stream has
        self._stream_ts: str | None = None
        self._last = 0.0

    def write(self, text: str) -> None:
        """More of the answer (from the agent's thread)."""
        with self._lock:
            self._text += text
            if self._mode == "idle":
                self._begin()
            elif self._mode == "stream":
                if self._clock() - self._last >= STREAM_INTERVAL:
                    self._append()
            else:
                self._show()

    def retract(self) -> None:
        """What was written is not the answer: remove the stream, or put the placeholder back."""
        with self._lock:
            if self._mode == "stream":
                self._drop_stream(stop=True)
            elif self._mode == "update":
                self._progress.reset_text()
            self._mode, self._text, self._sent = "idle", "", 0

    def complete(self, text: str, notes: Sequence[str] = ()) -> bool:
        """End a streamed answer with its notes; False when the caller must show the answer itself."""
        with self._lock:
            if self._mode != "stream" or self._text != text or self._stream_ts is None:
                if self._mode == "stream":  # the reply is not what streamed (should not happen): remove it
                    self._drop_stream(stop=True)
                return False
            _, rest = stream_markdown(self._text[self._sent :], final=True)
            blocks = [context(" · ".join(escape_text(n) for n in notes)).to_dict()] if notes else None
            try:
                self._client.chat_stopStream(
                    channel=self._question.channel,
                    ts=self._stream_ts,
                    markdown_text=rest or None,
                    blocks=blocks,
                )
            except SlackApiError as exc:
                log.warning("could not end the streamed answer: %s", exc.response.get("error"))
                self._drop_stream(stop=False)
                return False
            self._progress.drop_placeholder()  # the answer is its own message now
            return True

    def discard(self) -> None:
        """The answer failed: whatever streamed is not an answer (the caller shows the error)."""
        with self._lock:
            if self._mode == "stream":
                self._drop_stream(stop=True)
            self._mode = "idle"

    # -- under the lock ----------------------------------------------------------------------------------

    def _begin(self) -> None:
        q = self._question
        if not (self._support.available and q.thread_ts):  # a stream is always a reply in a thread
            self._mode = "update"
            self._show()
            return
        take, first = stream_markdown(self._text, final=False)
        if not first.strip():
            return  # nothing safe to show yet (a link still arriving): wait for more
        try:
            started = self._client.chat_startStream(
                channel=q.channel,
                thread_ts=q.thread_ts,
                markdown_text=first,
                recipient_team_id=q.team or None,
                recipient_user_id=q.user or None,
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in UNSUPPORTED:
                self._support.refuse(error)
            else:
                log.warning("could not start streaming the answer: %s", error)
            self._mode = "update"
            self._show()
            return
        self._mode, self._stream_ts, self._sent, self._last = (
            "stream",
            str(started["ts"]),
            take,
            self._clock(),
        )

    def _append(self) -> None:
        take, more = stream_markdown(self._text[self._sent :], final=False)
        if not more:
            return
        try:
            self._client.chat_appendStream(
                channel=self._question.channel, ts=str(self._stream_ts), markdown_text=more
            )
        except SlackApiError as exc:  # e.g. the stream expired: show the answer in the placeholder instead
            log.warning("could not append to the streamed answer: %s", exc.response.get("error"))
            self._drop_stream(stop=False)
            self._mode = "update"
            self._show()
            return
        self._sent += take
        self._last = self._clock()

    def _show(self) -> None:
        """Fallback: the text so far in the placeholder (Progress keeps the one-update-per-second bound)."""
        if self._text.strip():
            partial = answer_messages(self._text + " …")[0]
            self._progress.show_text(partial.payload(), min_interval=UPDATE_INTERVAL)

    def _drop_stream(self, *, stop: bool) -> None:
        ts, self._stream_ts = self._stream_ts, None
        if ts is None:
            return
        channel = self._question.channel
        try:
            if stop:
                self._client.chat_stopStream(channel=channel, ts=ts)
            self._client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            log.info("could not remove a streamed message: %s", exc.response.get("error"))
