"""The one JSON REST sender of the registry kinds' native APIs (GitHub, GitLab, Harbor `/api/v2.0`, Quay
`/api/v1`).

The v2 data plane has its own session (tools/registry/session.py); a vendor's REST API is simpler (fixed
credential headers, JSON both ways) but needs the same manners: bounded retries that honour `Retry-After`
(tools/registry/retry.py, the v2 client's policy), GitHub's rate limits (a 403 with `Retry-After` or no
requests remaining is a wait, not a refusal; `x-ratelimit-reset` stands in for a missing `Retry-After`), no
redirects (the next hop would get our credentials), bodies capped in size and time, every request counted
by method (the adapters add them to the v2 ones), and every failure turned into a tools.errors type whose
message names the vendor, the request and the vendor's own error text, with the credentials scrubbed out.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from tools.errors import AuthError, BadResponse, NotFound, Unreachable, UpstreamError
from tools.registry.retry import RetryableStatus, wait_for_retry
from tools.registry.wire import read_capped

MAX_REST_BYTES = 32 * 1024 * 1024  # one page of a listing; anything larger is not a page
REQUEST_DEADLINE = 60.0  # seconds for one answer's body: a server dripping bytes must not keep us
ErrorText = Callable[[Any], str]  # a vendor's error body -> one line for people ("" when it has none)


def message_error_text(body: Any) -> str:
    """The error text of GitHub and GitLab bodies: `message` (or `error`)."""
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if message:
            return str(message)[:300]
    return ""


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """A REST answer: status, headers (lower-case names) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self, what: str) -> Any:
        """The decoded body; BadResponse naming `what` when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except ValueError:  # orjson also refuses nesting past 1024 levels with a ValueError
            raise BadResponse(f"{what}: the answer is not JSON", status=self.status) from None


@dataclass(frozen=True, slots=True)
class _StatusView:
    """The status and headers a retry decision reads (tools/registry/retry.py's StatusAnswer)."""

    status_code: int
    headers: Mapping[str, str]


class RestSession:
    """Sends JSON requests to one vendor API base URL with one fixed set of headers."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client,
        vendor: str,
        authorization: str | None = None,
        headers: Mapping[str, str] | None = None,
        error_text: ErrorText = message_error_text,
        attempts: int = 4,
        max_retry_wait: float = 30.0,
        secrets: Collection[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.vendor = vendor
        self._headers = {"accept": "application/json"}
        self._headers.update({name.lower(): value for name, value in (headers or {}).items()})
        if authorization:
            self._headers["authorization"] = authorization
        # what must never appear in a message: the Authorization header's credential part and the raw
        # secrets behind it (a password, a token sent in a header of its own)
        credential = self._headers.get("authorization", "").partition(" ")[2]
        self._secrets = tuple(s for s in (credential, *secrets) if s)
        self._http = http
        self._error_text = error_text
        self._attempts = attempts
        self._max_retry_wait = max_retry_wait
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # sent, by method (retries included)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> RestAnswer | None:
        """Send; GET retried on 429/5xx/transport failures and rate-limit 403s, others only on 429 and
        rate-limit 403s (nothing was done then).

        `missing_ok`: a 404 answers None instead of raising NotFound (a delete of something already gone).
        """
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_for_retry(max_wait=self._max_retry_wait),
            retry=retry_if_exception_type(
                (RetryableStatus, Unreachable) if method == "GET" else RetryableStatus
            ),
            reraise=True,
        )
        try:
            answer: RestAnswer = retrying(self._send, method, path, query, body)
        except RetryableStatus as exc:
            raise exc.final() from None
        if answer.status == 404 and missing_ok:
            return None
        return self._check(answer, method, path)

    def get_json(self, path: str, *, query: Mapping[str, str] | None = None) -> tuple[Any, RestAnswer]:
        """GET a JSON document; the decoded body and the answer (for paging headers)."""
        answer = self.request("GET", path, query=query)
        assert answer is not None  # only missing_ok requests answer None
        return answer.json(f"{self.vendor} GET {path}"), answer

    def _send(self, method: str, path: str, query: Mapping[str, str] | None, body: Any) -> RestAnswer:
        headers = dict(self._headers)
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["content-type"] = "application/json"
        where = f"{self.vendor} {method} {path}"
        request = self._http.build_request(
            method, self.base_url + path, params=dict(query or {}), headers=headers, content=content
        )
        with self._lock:
            self.requests[method] += 1
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
            try:
                raw = read_capped(
                    response, MAX_REST_BYTES, what=where, deadline=time.monotonic() + REQUEST_DEADLINE
                )
            finally:
                response.close()
        except httpx.TimeoutException:
            raise Unreachable(f"{where}: no answer in time from {self.base_url}") from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"{where}: cannot reach {self.base_url}: {type(exc).__name__}") from None
        answer = RestAnswer(raw.status_code, raw.headers, raw.content)
        if answer.status == 429 or _rate_limit_403(answer):
            raise RetryableStatus(_rate_limited(answer), where)
        if method == "GET" and answer.status >= 500:
            raise RetryableStatus(_StatusView(answer.status, answer.headers), where)
        return answer

    def _check(self, answer: RestAnswer, method: str, path: str) -> RestAnswer:
        status = answer.status
        if status < 300:
            return answer
        url = self.base_url + path
        if status < 400:
            target = self._scrub(answer.headers.get("location", "?"))[:200]
            raise UpstreamError(
                f"{self.vendor} {method} {path}: redirected ({status}) to {target}; redirects are refused, "
                "set the registry URL to the address the API really answers on",
                status=status,
                url=url,
            )
        try:
            detail = self._error_text(orjson.loads(answer.body))
        except ValueError:
            detail = ""
        detail = self._scrub(detail or answer.body[:200].decode("utf-8", "replace").strip() or "no detail")
        message = f"{self.vendor} {method} {path}: HTTP {status}: {detail}"
        if status in (401, 403):
            raise AuthError(message, status=status, url=url)
        if status == 404:
            raise NotFound(message, status=status, url=url)
        raise UpstreamError(message, status=status, url=url)

    def _scrub(self, text: str) -> str:
        """Never echo a credential back (an error page or a redirect target might quote it)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _rate_limit_403(answer: RestAnswer) -> bool:
    """GitHub's primary and secondary rate limits answer 403 with `Retry-After` or no requests left."""
    headers = answer.headers
    return answer.status == 403 and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)


def _rate_limited(answer: RestAnswer) -> _StatusView:
    """A 429 view; GitHub's `x-ratelimit-reset` (epoch seconds) stands in for a missing Retry-After."""
    headers = dict(answer.headers)
    reset = headers.get("x-ratelimit-reset", "")
    if "retry-after" not in headers and reset.isdigit():
        headers["retry-after"] = str(max(int(reset) - int(time.time()), 0))
    return _StatusView(429, headers)


def vendor_time(value: object, *, what: str, naive: Literal["utc", "refuse"] = "refuse") -> datetime | None:
    """An RFC 3339 time from a vendor's JSON (`Z` or an offset); None when absent.

    A time without a zone is refused (GitHub and GitLab always write one) or read as UTC (`naive="utc"`:
    Harbor's Go times). BadResponse naming `what` for anything that is not such a time.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadResponse(f"{what}: {str(value)[:40]!r} is not a time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadResponse(f"{what}: {value[:40]!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        if naive == "refuse":
            raise BadResponse(f"{what}: {value[:40]!r} has no time zone")
        moment = moment.replace(tzinfo=UTC)
    return moment


def next_link(headers: Mapping[str, str]) -> str | None:
    """The target of a `Link: <…>; rel="next"` header (Harbor's paging), or None."""
    for part in headers.get("link", "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") and target.strip().startswith("<"):
            return target.strip()[1:-1]
    return None
