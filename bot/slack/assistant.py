"""Assistant threads (the app's own chat pane): a greeting with suggested prompts, and thread titles."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.mrkdwn import truncate

if TYPE_CHECKING:
    from bot.slack.conversation import Question

log = logging.getLogger(__name__)

GREETING = (
    "Hi! I know every image in your registries and where it runs. Ask me what is wasting space, "
    "whether an image is still used, or for a cleanup plan; nothing is deleted until an approver "
    "clicks Approve."
)
SUGGESTED_PROMPTS = [
    {
        "title": "What is wasting space?",
        "message": "Which images waste the most space, and what could we clean up?",
    },
    {"title": "Stale images", "message": "Which images have not been used for 90 days?"},
    {"title": "Where does it run?", "message": "Where is shop/api:latest running, and how big is it?"},
    {"title": "Storage by registry", "message": "How much storage does each registry use?"},
]
_titled: OrderedDict[tuple[str, str], None] = OrderedDict()
_titled_lock = threading.Lock()


def greet_thread(client: WebClient, *, channel: str, thread_ts: str) -> None:
    """Say hello in a new assistant thread and offer suggested prompts."""
    try:
        client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=thread_ts, title="Try asking", prompts=SUGGESTED_PROMPTS
        )
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=GREETING)
    except SlackApiError as exc:
        log.warning("could not greet the assistant thread: %s", exc.response.get("error"))


def set_thread_title(client: WebClient, question: Question) -> None:
    """Title an assistant thread after its first question (once per thread per process)."""
    if not question.thread_ts:
        return
    key = (question.channel, question.thread_ts)
    with _titled_lock:
        if key in _titled:
            return
        _titled[key] = None
        while len(_titled) > 10_000:
            _titled.popitem(last=False)
    try:
        client.assistant_threads_setTitle(
            channel_id=question.channel, thread_ts=question.thread_ts, title=truncate(question.text, 60)
        )
    except SlackApiError as exc:
        log.info("could not title the thread: %s", exc.response.get("error"))
