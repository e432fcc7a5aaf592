"""A small JSON REST sender for the registry kinds' native APIs (Harbor `/api/v2.0`, Quay `/api/v1`).

The v2 data plane has its own session (tools/registry/session.py); a vendor's REST API is simpler (one
fixed credential header, JSON both ways) but needs the same manners: bounded retries that honour
`Retry-After` (tools/registry/retry.py, the v2 client's policy), no redirects (the next hop would get our
credentials), capped bodies, and every failure turned into a tools.errors type whose message names the
vendor, the request and the vendor's own error text, with the credential scrubbed out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from tools.errors import AuthError, BadResponse, NotFound, Unreachable, UpstreamError
from tools.registry.retry import RetryableStatus, wait_for_retry

MAX_REST_BYTES = 32 * 1024 * 1024  # one page of a listing; anything larger is not a page
ErrorText = Callable[[Any], str]  # a vendor's error body -> one line for people ("" when it has none)


@dataclass(frozen=True, slots=True)
class RestAnswer:
    """A REST answer: status, headers (lower-case names) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self, what: str) -> Any:
        """The decoded body; BadResponse naming `what` when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise BadResponse(f"{what}: the answer is not JSON", status=self.status) from None


class RestSession:
    """Sends JSON requests to one vendor API base URL with one credential header."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client,
        vendor: str,
        authorization: str | None,
        error_text: ErrorText,
        attempts: int = 4,
        max_retry_wait: float = 30.0,
        secrets: Collection[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # what must never appear in a message: the header's credential part and the raw secrets behind it
        credential = (authorization or "").partition(" ")[2]
        self._secrets = tuple(s for s in (credential, *secrets) if s)
        self.vendor = vendor
        self._http = http
        self._authorization = authorization
        self._error_text = error_text
        self._attempts = attempts
        self._max_retry_wait = max_retry_wait

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> RestAnswer | None:
        """Send; GET retried on 429/5xx/transport failures, others only on 429 (nothing was done then).

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

    def _send(self, method: str, path: str, query: Mapping[str, str] | None, body: Any) -> RestAnswer:
        headers = {"Accept": "application/json"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        where = f"{self.vendor} {method} {path}"
        try:
            with self._http.stream(
                method,
                self.base_url + path,
                params=dict(query or {}),
                headers=headers,
                content=content,
                follow_redirects=False,
            ) as response:
                raw = b""
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_REST_BYTES:
                        raise BadResponse(f"{where}: the answer is over {MAX_REST_BYTES} bytes")
        except httpx.TimeoutException:
            raise Unreachable(f"{where}: no answer in time from {self.base_url}") from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"{where}: cannot reach {self.base_url}: {type(exc).__name__}") from None
        answer = RestAnswer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, raw)
        retry_any = method == "GET" and answer.status >= 500
        if answer.status == 429 or retry_any:
            raise RetryableStatus(response, where)
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
            detail = self._error_text(json.loads(answer.body))
        except (ValueError, RecursionError):
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


def next_link(headers: Mapping[str, str]) -> str | None:
    """The target of a `Link: <…>; rel="next"` header (Harbor's paging), or None."""
    for part in headers.get("link", "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") and target.strip().startswith("<"):
            return target.strip()[1:-1]
    return None
