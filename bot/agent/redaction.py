"""Known secret values replaced in everything the loop sends to the LLM or returns (invariant 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REDACTED = "[redacted]"


class Redactor:
    """Replaces every known secret value, longest first (a key that contains another is cut whole)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        # Short values would redact ordinary words; real keys and passwords are longer.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    @property
    def longest(self) -> int:
        """The length of the longest secret (0 without any): how much a stream must hold back."""
        return max((len(s) for s in self._secrets), default=0)

    def scrub(self, text: str) -> str:
        """The text with every known secret replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def scrubbed(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A copy of the messages with every known secret value replaced (belt and braces)."""
        if not self._secrets:
            return messages
        return [self._value(message) for message in messages]

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {key: self._value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._value(item) for item in value]
        return value
