"""JSON over HTTP for the GitHub and GitLab REST APIs: bounded retries, capped bodies, errors translated.

The v2 data plane has its own session (tools/registry/session.py). A vendor REST API needs the same manners:
retries of 429 and 5xx that honour `Retry-After` (the v2 client's policy, tools/registry/retry.py), no
redirects (the next hop would get the token), bodies read no further than a cap, and every failure turned
into a tools.errors type that names the vendor and the request but never the token.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from tools.errors import AuthError, BadResponse, NotFound, Unreachable, UpstreamError
from tools.registry.retry import RetryableStatus, wait_for_retry
from tools.registry.wire import read_capped

MAX_PAGE_BYTES = 16 * 1024 * 1024  # one page of a listing (100 items); anything larger is hostile
REQUEST_DEADLINE = 60.0


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A REST answer with its body read: status, lower-case headers, body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self, what: str) -> Any:
        """The decoded body; BadResponse naming `what` when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except ValueError:
            raise BadResponse(f"{what}: the answer is not JSON", status=self.status) from None


class JsonApi:
    """Requests to one vendor REST API base URL with one fixed set of credential headers."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client,
        vendor: str,
        headers: Mapping[str, str],
        attempts: int = 4,
        max_retry_wait: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.vendor = vendor
        self.host = urlsplit(self.base_url).netloc
        self._http = http
        self._headers = dict(headers)
        self._attempts = attempts
        self._max_wait = max_retry_wait
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # sent, by method (the crawl adds them to the v2 ones)

    def send(
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, ok_missing: bool = False
    ) -> JsonAnswer | None:
        """One request, retried on 429/5xx/transport errors; None for a 404 when `ok_missing`."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_for_retry(max_wait=self._max_wait),
            retry=retry_if_exception_type((RetryableStatus, Unreachable)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, query, ok_missing)
        except RetryableStatus as exc:
            raise exc.final() from None
        raise AssertionError("unreachable")  # pragma: no cover - Retrying returns or raises

    def get_json(self, path: str, *, query: Mapping[str, str] | None = None) -> tuple[Any, JsonAnswer]:
        """GET a JSON document; the decoded body and the answer (for paging headers)."""
        answer = self.send("GET", path, query=query)
        assert answer is not None
        return answer.json(f"{self.vendor} GET {path}"), answer

    def _once(
        self, method: str, path: str, query: Mapping[str, str] | None, ok_missing: bool
    ) -> JsonAnswer | None:
        where = f"{self.vendor} {method} {self.host}{path}"
        request = self._http.build_request(
            method, self.base_url + path, params=dict(query or {}), headers=self._headers
        )
        with self._lock:
            self.requests[method] += 1
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
            try:
                raw = read_capped(
                    response, MAX_PAGE_BYTES, what=where, deadline=time.monotonic() + REQUEST_DEADLINE
                )
            finally:
                response.close()
        except httpx.TimeoutException:
            raise Unreachable(f"{where} timed out", url=self.host) from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{where}: unreachable ({type(exc).__name__})", url=self.host) from None
        answer = JsonAnswer(raw.status_code, raw.headers, raw.content)
        return self._check(answer, where, ok_missing)

    def _check(self, answer: JsonAnswer, where: str, ok_missing: bool) -> JsonAnswer | None:
        status = answer.status
        if status < 300:
            return answer
        detail = _message(answer.body)
        if status == 404:
            if ok_missing:
                return None
            raise NotFound(f"not found: {where}{detail}", status=404, url=self.host)
        if status in {401, 403}:
            limited = answer.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in answer.headers
            if status == 403 and limited:  # GitHub's primary and secondary rate limits answer 403
                raise RetryableStatus(_rate_limited(answer), where)
            raise AuthError(f"access denied ({status}): {where}{detail}", status=status, url=self.host)
        if status == 429 or status >= 500:
            raise RetryableStatus(_rate_limited(answer) if status == 429 else _view(answer), where)
        raise UpstreamError(f"{where} answered {status}{detail}", status=status, url=self.host)


@dataclass(frozen=True, slots=True)
class _StatusView:
    status_code: int
    headers: Mapping[str, str]


def _view(answer: JsonAnswer) -> _StatusView:
    """The status and headers a retry decision reads."""
    return _StatusView(answer.status, answer.headers)


def _rate_limited(answer: JsonAnswer) -> _StatusView:
    """A 429 view; GitHub's `x-ratelimit-reset` (epoch seconds) stands in for a missing Retry-After."""
    headers = dict(answer.headers)
    reset = headers.get("x-ratelimit-reset", "")
    if "retry-after" not in headers and reset.isdigit():
        headers["retry-after"] = str(max(int(reset) - int(time.time()), 0))
    return _StatusView(429, headers)


def _message(body: bytes) -> str:
    """The vendor's own error text (GitHub and GitLab both use `message`), one short line."""
    try:
        parsed = orjson.loads(body)
    except ValueError:
        return ""
    message = parsed.get("message") or parsed.get("error") if isinstance(parsed, dict) else None
    return f": {str(message)[:200]}" if message else ""
