"""How the registry client sends: auth (basic, or bearer tokens per scope), bounded retries of GET and HEAD
(429 with Retry-After, 5xx, transport failures), blob redirects by our own policy, capped bodies, and
every httpx exception and error status translated into tools.errors types; callers never see httpx.

Direct requests go through the RawTransport when the httpx client carries one (tools/registry/http.py);
httpx sends the rest (token requests, redirects to blob storage, requests through an environment proxy).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from tools.errors import AuthError, BadResponse, NotFound, Unreachable, UpstreamError
from tools.registry.auth import Challenge, TokenCache, basic_authorization, parse_challenge, scope_for
from tools.registry.http import CookielessClient
from tools.registry.retry import RetryableStatus, wait_for_retry
from tools.registry.transport import RawRoute
from tools.registry.wire import (
    Answer,
    error_code,
    parse_json_object,
    read_capped,
    realm_allowed,
)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # catalog and tag list pages; read no further than this
REQUEST_DEADLINE = 60.0  # seconds for a whole answer: a read timeout alone lets a trickling body go on
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class RegistrySession:
    """Sends requests to one registry base URL (direct, or Portainer BE's `/api/registries/{id}` proxy)."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client,
        username: str | None,
        password: str | None,
        headers: dict[str, str],
        params: dict[str, str],
        attempts: int,
        max_retry_wait: float,
        request_deadline: float,
        blob_redirect_hosts: Collection[str],
    ) -> None:
        self.base_url = base_url
        self.host = urlsplit(base_url).netloc
        # Blob GETs may be redirected to storage (S3, GCS); only to these hosts (or our own origin).
        self._redirect_hosts = frozenset(h.lower() for h in blob_redirect_hosts)
        self._http = http
        self._basic = (username, password) if username is not None and password is not None else None
        self._basic_header = basic_authorization(*self._basic) if self._basic is not None else ""
        self._headers = headers
        self._params = params
        raw = http.raw_transport_for(base_url) if isinstance(http, CookielessClient) else None
        self._raw = raw.route(base_url, {**http.headers, **headers}) if raw else None
        self._attempts = attempts
        self._max_retry_wait = max_retry_wait
        self._deadline = request_deadline
        self._tokens = TokenCache()
        self._use_basic = False
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # requests sent, by method (token requests included)
        self.statuses: Counter[int] = Counter()  # answers acted on, by status (regent serve's /metrics)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        accept: str | None = None,
        follow_redirects: bool = False,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> Answer:
        """Send with auth; GET and HEAD retried on 429, 5xx and transport failures; error statuses raised."""
        send = Send(method, path, query, accept, follow_redirects, max_bytes)
        if method not in {"GET", "HEAD"}:
            try:
                return self._send_authorized(send)
            except RetryableStatus as exc:
                raise exc.final() from None
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_for_retry(max_wait=self._max_retry_wait),
            retry=retry_if_exception(lambda exc: isinstance(exc, (Unreachable, RetryableStatus))),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send_authorized(send)
        except RetryableStatus as exc:
            raise exc.final() from None
        raise AssertionError("unreachable")  # pragma: no cover - Retrying either returns or raises

    def _send_authorized(self, send: Send) -> Answer:
        response = self.answer_once(send)
        with self._lock:
            self.statuses[response.status_code] += 1
        return self._check(response, send.method, send.path)

    def answer_once(self, send: Send) -> Answer:
        """Send, answering one auth challenge; the response is returned whatever its status."""
        scope = scope_for(send.path, send.method)
        sent = self._auth_header(scope)
        response = self._send(send, sent)
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is not None and self._answer_challenge(challenge, scope, sent):
                response = self._send(send, self._auth_header(scope))
        return response

    def _send(self, send: Send, auth: dict[str, str]) -> Answer:
        params = {**self._params, **send.query} if send.query else self._params
        headers = {**auth, "accept": send.accept} if send.accept else auth
        if self._raw is not None:
            response = self._exchange(self._raw, send, params, headers)
            if not send.follow_redirects or response.status_code not in _REDIRECTS:
                return response
        request = self._http.build_request(
            send.method,
            self.base_url + send.path,
            params=params or None,
            headers={**self._headers, **headers},
        )
        if self._raw is None:
            response = self._transfer(request, send.path, send.max_bytes)
        for _ in range(MAX_REDIRECTS if send.follow_redirects else 0):
            if response.status_code not in _REDIRECTS or "location" not in response.headers:
                break
            request = self._redirect(request, response)
            response = self._transfer(request, request.url.path, send.max_bytes)
        return response

    def _redirect(self, request: httpx.Request, response: Answer) -> httpx.Request:
        """The next request of a blob redirect: our own origin keeps its headers; storage hosts get none.

        httpx's own redirect handling strips only `Authorization` across origins, not headers such as
        Portainer's `X-API-Key`, and follows any host; so redirects are followed here, by this policy.
        """
        target = request.url.join(response.headers["location"])
        own = httpx.URL(self.base_url)
        if target.scheme not in {"http", "https"}:
            raise BadResponse(f"registry {self.host} redirected to a {target.scheme!r} URL; refused")
        if (target.scheme, target.host, target.port) == (own.scheme, own.host, own.port):
            return self._http.build_request("GET", target, headers=request.headers)
        if target.host.lower() not in self._redirect_hosts:
            raise BadResponse(
                f"registry {self.host} redirected a blob to {target.host!r}, which is not this registry "
                "or one of its blob_redirect_hosts; refused",
                url=self.host,
            )
        if own.scheme == "https" and target.scheme != "https":
            raise BadResponse(f"registry {self.host} redirected a blob to plain http; refused")
        return self._http.build_request("GET", target)  # no Authorization, no Portainer key, no params

    def _exchange(self, raw: RawRoute, send: Send, params: dict[str, str], headers: dict[str, str]) -> Answer:
        """_transfer's lean twin: the same request, over the raw transport."""
        with self._lock:
            self.requests[send.method] += 1
        deadline = time.monotonic() + self._deadline
        with self._translated_errors():
            return raw.send(
                send.method, send.path, params, headers, max_bytes=send.max_bytes, deadline=deadline
            )

    def _transfer(self, request: httpx.Request, path: str, max_bytes: int) -> Answer:
        """Send one request and read at most max_bytes of its body (a hostile server cannot fill memory)."""
        with self._lock:
            self.requests[request.method] += 1
        deadline = time.monotonic() + self._deadline
        with self._translated_errors():
            response = self._http.send(request, stream=True, follow_redirects=False)
            try:
                return read_capped(
                    response, max_bytes, what=f"{request.method} {self.host}{path}", deadline=deadline
                )
            finally:
                response.close()

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise Unreachable(
                f"registry {self.host} timed out ({type(exc).__name__})", url=self.host
            ) from None
        except httpx.TransportError as exc:
            raise Unreachable(
                f"registry {self.host} unreachable ({type(exc).__name__})", url=self.host
            ) from None
        except httpx.DecodingError:
            raise BadResponse(f"registry {self.host} sent a body it had not encoded as it said") from None

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope) if scope else None
        if token is None:
            token = self._tokens.get("*")
        if token is not None:
            return {"authorization": f"Bearer {token}"}
        if self._use_basic and self._basic_header:
            return {"authorization": self._basic_header}
        return {}

    def _answer_challenge(self, challenge: Challenge, scope: str, sent: dict[str, str]) -> bool:
        """Whether the request is worth sending again, now with what answers `challenge`.

        A Basic challenge is answered once per session, but every request that went out before it was
        answered (no Authorization, or an older one: parallel requests of a fresh client) is retried with
        the credentials; only a request that already carried them was really refused.
        """
        if challenge.scheme == "basic":
            if self._basic is None or sent.get("authorization") == self._basic_header:
                return False
            with self._lock:
                self._use_basic = True
            return True
        if not realm_allowed(challenge.realm, self.base_url):
            raise AuthError(
                f"registry {self.host}: refused token realm {challenge.realm[:100]!r} "
                "(only http(s), and never plain http for an https registry)",
                status=401,
            )
        token, expires_in = self._fetch_token(challenge)
        self._tokens.put(scope or "*", token, expires_in=expires_in)
        return True

    def _fetch_token(self, challenge: Challenge) -> tuple[str, float]:
        params = {k: v for k, v in (("service", challenge.service), ("scope", challenge.scope)) if v}
        auth = httpx.BasicAuth(*self._basic) if self._basic is not None else None
        with self._lock:
            self.requests["GET"] += 1
        try:
            # Never follow a redirect here: the request carries the registry password.
            response = self._http.get(challenge.realm, params=params, auth=auth, follow_redirects=False)
        except httpx.TransportError as exc:
            raise Unreachable(f"token service of {self.host} unreachable ({type(exc).__name__})") from None
        if response.status_code in {401, 403}:
            raise AuthError(f"registry {self.host}: token service rejected the credentials", status=401)
        if response.status_code != 200:
            raise UpstreamError(f"registry {self.host}: token service answered {response.status_code}")
        body = parse_json_object(response.content, what="token response")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise BadResponse(f"registry {self.host}: token response has no token")
        expires_in = body.get("expires_in", 60)
        return token, float(expires_in) if isinstance(expires_in, int | float) else 60.0

    def _check(self, response: Answer, method: str, path: str) -> Answer:
        status = response.status_code
        if status < 300:
            return response
        where = f"{method} {self.host}{path}"
        if status == 404:
            raise NotFound(f"not found: {where}{error_code(response)}", status=404, url=self.host)
        if status in {401, 403}:
            raise AuthError(f"access denied ({status}): {where}{error_code(response)}", status=status)
        if status == 429 or status >= 500:
            raise RetryableStatus(response, where)
        raise UpstreamError(f"registry answered {status}: {where}{error_code(response)}", status=status)


@dataclass(frozen=True, slots=True)
class Send:
    """One logical request, as retries repeat it."""

    method: str
    path: str
    query: dict[str, str] | None = None
    accept: str | None = None
    follow_redirects: bool = False
    max_bytes: int = MAX_RESPONSE_BYTES
