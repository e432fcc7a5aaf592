"""The optional summary: one bounded LLM call that turns the finished digest into three sentences.

Bounded: one request, no tools, the digest text cut to MAX_INPUT_CHARS, the answer cut to three sentences
and MAX_SUMMARY_CHARS. The digest is complete without it; any failure just leaves the summary out.
"""

from __future__ import annotations

import re

from bot.agent.llm import ChatModel
from bot.agent.prompts import Prompts
from bot.config import LLMEnv, Settings

PROMPT = "digest_summary"
MAX_INPUT_CHARS = 12_000
MAX_SUMMARY_CHARS = 600
SUMMARY_TIMEOUT_S = 30.0
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class DigestSummarizer:
    """Calls the model once per digest; raises whatever the client raises (the builder catches it)."""

    def __init__(self, llm: ChatModel, *, prompts: Prompts | None = None) -> None:
        self._llm = llm
        self._prompts = prompts or Prompts()

    def __call__(self, digest_text: str) -> str:
        """Three sentences about the digest text."""
        messages = [
            {"role": "system", "content": self._prompts.render(PROMPT, {})},
            {"role": "user", "content": digest_text[:MAX_INPUT_CHARS]},
        ]
        completion = self._llm.complete(messages=messages, tools=None)
        return clip_summary(completion.content or "")

    def close(self) -> None:
        """Close the model client if it can be closed."""
        close = getattr(self._llm, "close", None)
        if callable(close):
            close()


def clip_summary(text: str) -> str:
    """At most three sentences and MAX_SUMMARY_CHARS characters, on one paragraph."""
    sentences = _SENTENCE_END.split(" ".join(text.split()))
    clipped = " ".join(sentences[:3]).strip()
    return clipped if len(clipped) <= MAX_SUMMARY_CHARS else clipped[: MAX_SUMMARY_CHARS - 1] + "…"


def summarizer_for(
    settings: Settings, llm_env: LLMEnv, *, enabled: bool
) -> tuple[DigestSummarizer | None, str | None]:
    """The summarizer and the model's name, when a model is configured and summaries are on."""
    if not (enabled and settings.digest.summary and llm_env.configured):
        return None, None
    from bot.agent.llm import OpenAIChat

    model = llm_env.model or settings.llm.model
    chat = OpenAIChat(
        model=model,
        base_url=llm_env.base_url,
        api_key=llm_env.api_key.get_secret_value() if llm_env.api_key else None,
        temperature=0.0,
        timeout_s=min(settings.llm.request_timeout_s, SUMMARY_TIMEOUT_S),
        max_retries=0,
    )
    return DigestSummarizer(chat), model
