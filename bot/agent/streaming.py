"""Answers shown while they are written: the model's text, passed on as it arrives, scrubbed and bounded.

The LLM client hands each piece of content to the sink in a context variable (`emit_text`), so the
wrappers between the loop and the client (metrics, the evals' recorder) pass it through unchanged
without growing a parameter. The loop sets the sink (a StreamTap) around each request; the tap gives
the front end an AnswerStream of text that is safe to show:

- known secret values never leave it, even split across pieces: the last `hold` characters (the longest
  secret, less one) wait for the next piece before they are scrubbed and passed on (invariant 4);
- leading and trailing whitespace wait too, and nothing past the reply limit goes out, so what was
  written is always a prefix of the final reply text (which the loop strips, completes and cuts);
- text written before the model turned to a tool call is retracted (it was not the answer), and so is
  anything the final reply does not start with; once the reply is final, the rest of it is written.

The contract for a front end: when `Agent.answer` returns without an error, the text written since the
last `retract()` is either empty (nothing was shown live: show the reply as usual) or exactly
`AgentReply.text`. After an error, whatever was written is not an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

log = logging.getLogger(__name__)

TextSink = Callable[[str], None]
_sink: ContextVar[TextSink | None] = ContextVar("regent_text_sink", default=None)


class AnswerStream(Protocol):
    """Where live answer text goes (bot/slack/streaming.py writes it into Slack)."""

    def write(self, text: str) -> None:
        """More of the answer, in order; already scrubbed."""
        ...

    def retract(self) -> None:
        """Everything written since the last retract was not the answer: take it back."""
        ...


@contextmanager
def text_sink(sink: TextSink | None) -> Iterator[None]:
    """Send the content the LLM client emits in this context to `sink` (None: to nobody)."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def emit_text(piece: str) -> None:
    """The LLM client's side: one piece of content as it arrives; never raises into the client."""
    sink = _sink.get()
    if sink is None or not piece:
        return
    try:
        sink(piece)
    except Exception:  # showing progress is cosmetic: a failing front end must not cost the answer
        log.warning("live answer text could not be passed on", exc_info=True)


class StreamTap:
    """Between the LLM's pieces and an AnswerStream: scrub, hold back, bound, retract."""

    def __init__(self, stream: AnswerStream, *, scrub: Callable[[str], str], hold: int, limit: int) -> None:
        self._stream = stream
        self._scrub = scrub
        self._hold = max(hold, 0)
        self._limit = limit - 1  # the loop cuts a longer reply to limit - 1 characters plus "…"
        self._pending = ""  # scrubbed, not yet written (the held-back tail)
        self._written = ""  # written since the last retract
        self._begun = False  # a non-space character has arrived (leading whitespace is dropped)

    @property
    def written(self) -> str:
        """What the stream holds now."""
        return self._written

    def piece(self, text: str) -> None:
        """One piece of content from the model."""
        if len(self._written) >= self._limit:
            return
        if not self._begun:
            text = text.lstrip()
            if not text:
                return
            self._begun = True
        scrubbed = self._scrub(self._pending + text)
        cut = max(len(scrubbed) - self._hold, 0)
        ready = scrubbed[:cut].rstrip()  # trailing whitespace may be the end: the reply is stripped
        ready = ready[: max(self._limit - len(self._written), 0)]
        self._pending = scrubbed[len(ready) :]
        if ready:
            self._written += ready
            self._stream.write(ready)

    def retract(self) -> None:
        """The model turned to tools: what it wrote so far was not the answer."""
        if self._written:
            self._stream.retract()
        self._pending, self._written, self._begun = "", "", False

    def settle(self, final: str) -> None:
        """The reply is final: complete what was written with the rest of it, or take it back."""
        if not self._written:
            return  # nothing was live: the front end shows the reply its usual way
        if not final.startswith(self._written):
            self.retract()
            return
        rest = final[len(self._written) :]
        self._pending, self._written = "", final
        if rest:
            self._stream.write(rest)
