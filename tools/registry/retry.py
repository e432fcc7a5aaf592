"""Retry policy shared by the HTTP clients: bounded attempts, `Retry-After` honoured for 429 and 503."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from tenacity import RetryCallState, wait_exponential

from tools.errors import RateLimited, UpstreamError


class StatusAnswer(Protocol):
    """What a retry decision reads off an answer: an httpx.Response, or the registry client's lighter one."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive names, or lower-case ones)."""


class RetryableStatus(Exception):
    """A 429 or 5xx answer that may be retried; turned into an UpstreamError when retries run out."""

    def __init__(self, response: StatusAnswer, where: str) -> None:
        super().__init__(f"{response.status_code} from {where}")
        self.status = response.status_code
        self.where = where
        self.retry_after = parse_retry_after(response.headers.get("retry-after"))

    def final(self) -> UpstreamError:
        """The error to raise once no attempt is left."""
        if self.status == 429:
            return RateLimited(f"rate limited (429) by {self.where}; try again later", status=429)
        return UpstreamError(f"server error {self.status} from {self.where}", status=self.status)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def wait_for_retry(*, max_wait: float) -> Callable[[RetryCallState], float]:
    """Tenacity wait: the server's `Retry-After` (capped) when given, else a short exponential backoff."""
    backoff = wait_exponential(multiplier=0.2, max=min(max_wait, 5.0))

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, max_wait)
        return float(backoff(state))

    return wait
