"""Docker Hub's own API (hub.docker.com): repositories of a namespace, tags with their clocks, tag deletes.

What each call follows (docker/docs content/reference/api/hub/latest.yaml unless said otherwise):
- `POST /v2/auth/token {identifier, secret}` -> `{access_token}`, a JWT that "expires in 10 minutes";
- `GET /v2/namespaces/{ns}/repositories?page=&page_size=` (at most 100 a page, `next` links the pages);
- `GET /v2/namespaces/{ns}/repositories/{repo}/tags?page=&page_size=`: `tag_last_pushed`,
  `tag_last_pulled`, `full_size` and the image (`images`) per tag;
- `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/`: not in that document; the route docker/hub-tool
  uses (pkg/hub/tags.go, `DeleteTagURL`);
- rate limits (the document's "Rate Limiting" section): 429 with `Retry-After` seconds, and
  `X-RateLimit-Remaining` / `X-RateLimit-Reset` (unix time) on answers below the limit.

Retries are bounded and never early: a 429 is retried only after its `Retry-After` (and only when that is
no longer than `max_retry_wait`); once `X-RateLimit-Remaining` says 0, the next call waits for
`X-RateLimit-Reset` first. Every wait is logged and kept in `waits` so a crawl can say it waited and why.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tools.errors import AuthError, BadResponse, NotFound, RateLimited, Unreachable, UpstreamError
from tools.registry.retry import RetryableStatus
from tools.registry.wire import Answer, parse_json_object, read_capped

log = logging.getLogger(__name__)

HUB_API_URL = "https://hub.docker.com"
PAGE_SIZE = 100  # the documented maximum for both listings
TOKEN_LIFETIME = 600.0  # "This expires in 10 minutes."
TOKEN_MARGIN = 60.0  # renew a minute early: a crawl must not fail half-way on an expired JWT
MAX_PAGES = 10_000  # a `next` chain longer than this is a loop, not a namespace
MAX_BODY = 16 * 1024 * 1024  # a page of 100 tags is ~100 KB; anything near this is hostile
REQUEST_DEADLINE = 60.0  # seconds for a whole answer, as the v2 session allows


@dataclass(frozen=True, slots=True)
class HubImage:
    """One platform image of a tag, as the Hub API lists it."""

    digest: str
    size: int | None
    last_pushed: datetime | None
    last_pulled: datetime | None


@dataclass(frozen=True, slots=True)
class HubTag:
    """One tag with the Hub's clocks; `digest` is what the tag points at (None when the Hub did not say)."""

    name: str
    digest: str | None
    full_size: int | None
    last_pushed: datetime | None
    last_pulled: datetime | None
    images: tuple[HubImage, ...]


@dataclass(frozen=True, slots=True)
class RateWait:
    """One wait the Hub asked for: how long, and why (shown in logs and crawl reports)."""

    seconds: float
    reason: str


class HubApi:
    """A client for one Hub API base URL, authenticated as one account (or anonymous: public data only)."""

    def __init__(
        self,
        base_url: str = HUB_API_URL,
        *,
        http: httpx.Client,
        identifier: str | None = None,
        secret: str | None = None,
        attempts: int = 4,
        max_retry_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self._http = http
        self._credentials = (identifier, secret) if identifier and secret else None
        self._attempts = max(attempts, 1)
        self._max_wait = max_retry_wait
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_until = 0.0
        self._not_before = 0.0  # unix time: X-RateLimit-Remaining was 0 until X-RateLimit-Reset
        self.waits: list[RateWait] = []
        self.requests = 0

    # ----- calls ----------------------------------------------------------------------------------

    def namespace_repositories(self, namespace: str) -> list[str]:
        """Names (without the namespace) of the repositories this account can see in a namespace."""
        path = f"/v2/namespaces/{_segment(namespace)}/repositories"
        names: list[str] = []
        for item in self._pages(path, what=f"repositories of {namespace}"):
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise BadResponse(f"Docker Hub: a repository of {namespace} has no name", url=self.host)
            names.append(name)
        return names

    def tags(self, namespace: str, repository: str) -> list[HubTag]:
        """Every tag of `namespace/repository` with its clocks and size."""
        path = f"/v2/namespaces/{_segment(namespace)}/repositories/{_segment(repository)}/tags"
        return [_tag(item, self.host) for item in self._pages(path, what=f"tags of {namespace}/{repository}")]

    def delete_tag(self, namespace: str, repository: str, tag: str) -> bool:
        """Delete one tag (the image stays, untagged); False when the tag was already gone."""
        path = f"/v2/repositories/{_segment(namespace)}/{_segment(repository)}/tags/{_segment(tag)}/"
        try:
            self._call("DELETE", path, query=None)
        except NotFound:
            return False
        return True

    # ----- plumbing -------------------------------------------------------------------------------

    def _pages(self, path: str, *, what: str) -> Iterator[dict[str, Any]]:
        query: dict[str, str] | None = {"page": "1", "page_size": str(PAGE_SIZE)}
        url_path = path
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            response = self._call("GET", url_path, query=query)
            body = parse_json_object(response.content, what=f"Docker Hub {what}")
            results = body.get("results") or []
            if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
                raise BadResponse(f"Docker Hub {what}: 'results' is not a list of objects", url=self.host)
            yield from results
            following = body.get("next")
            if not following or not results:
                return
            if not isinstance(following, str):
                raise BadResponse(f"Docker Hub {what}: 'next' is not a URL", url=self.host)
            url_path, query = self._own_path(following, what=what), None
            if url_path in seen:
                raise BadResponse(
                    f"Docker Hub {what}: 'next' leads back to a page already read", url=self.host
                )
            seen.add(url_path)
        raise BadResponse(f"Docker Hub {what}: more than {MAX_PAGES} pages; refused", url=self.host)

    def _own_path(self, link: str, *, what: str) -> str:
        """The path and query of a `next` link; only links to this API (the token must not go elsewhere)."""
        target = httpx.URL(self.base_url).join(link)
        own = httpx.URL(self.base_url)
        if (target.scheme, target.host, target.port) != (own.scheme, own.host, own.port):
            raise BadResponse(f"Docker Hub {what}: 'next' points at {target.host!r}; refused", url=self.host)
        query = target.query.decode()
        return target.path + (f"?{query}" if query else "")

    def _call(self, method: str, path: str, *, query: dict[str, str] | None) -> Answer:
        """One logical call: waits the Hub asked for, 429s retried after Retry-After, 5xx on GET retried."""
        renewed = False

        def send() -> Answer:
            nonlocal renewed
            response = self._send(method, path, query)
            if response.status_code == 401 and self._token is not None and not renewed:
                renewed = True  # a JWT that expired early: one new token, then the same request again
                self._drop_token()
                response = self._send(method, path, query)
            return response

        where = f"{method} {self.host}{path.partition('?')[0]}"
        return _checked(self._retrying(method, where, send), where)

    def _retrying(self, method: str, where: str, send: Callable[[], Answer]) -> Answer:
        """`send` until it is not a 429 (or a 5xx to a GET), waiting as asked; bounded by `attempts`."""
        last: RetryableStatus | None = None
        waited = 0.0
        for attempt in range(1, self._attempts + 1):
            self._wait_for_reset()
            response = send()
            self._remember_limit(response.headers)
            if response.status_code == 429 or (response.status_code >= 500 and method == "GET"):
                last = RetryableStatus(response, where)
                if attempt == self._attempts:
                    break
                waited += self._wait_before_retry(last, response, attempt)
                continue
            return response
        assert last is not None
        raise self._exhausted(last, waited)

    def _wait_before_retry(self, status: RetryableStatus, response: Answer, attempt: int) -> float:
        """Wait as the Hub asked before the next attempt; the seconds waited."""
        if status.status != 429:
            return self._pause(min(0.2 * 2**attempt, 5.0), f"Docker Hub answered {status.status}; retrying")
        seconds = status.retry_after
        if seconds is None:
            seconds = self._reset_in(response.headers)
        if seconds is None:
            seconds = min(2.0**attempt, self._max_wait)
        if seconds > self._max_wait:
            raise RateLimited(
                f"Docker Hub API rate limit (429) on {status.where}: it asks to wait {seconds:.0f} s "
                f"(Retry-After), longer than the {self._max_wait:.0f} s Regent waits; try again later",
                status=429,
                url=self.host,
            )
        reason = f"Docker Hub API rate limit (429) on {status.where}: Retry-After {seconds:g} s"
        return self._pause(seconds, reason)

    def _exhausted(self, status: RetryableStatus, waited: float) -> UpstreamError:
        if status.status != 429:
            return status.final()
        return RateLimited(
            f"Docker Hub API rate limit (429) on {status.where} after {self._attempts} attempts "
            f"(waited {waited:.1f} s as Retry-After asked); try again later",
            status=429,
            url=self.host,
        )

    def _remember_limit(self, headers: Mapping[str, str]) -> None:
        """X-RateLimit-Remaining 0: hold the next call until X-RateLimit-Reset (never spend a 429 on it)."""
        if headers.get("x-ratelimit-remaining", "").strip() != "0":
            return
        reset = _number(headers.get("x-ratelimit-reset"))
        if reset is not None:
            with self._lock:
                self._not_before = max(self._not_before, reset)

    def _reset_in(self, headers: Mapping[str, str]) -> float | None:
        reset = _number(headers.get("x-ratelimit-reset"))
        return None if reset is None else max(reset - self._clock(), 0.0)

    def _wait_for_reset(self) -> None:
        with self._lock:
            seconds = self._not_before - self._clock()
            self._not_before = 0.0
        if seconds <= 0:
            return
        if seconds > self._max_wait:
            raise RateLimited(
                f"Docker Hub API: no calls left until X-RateLimit-Reset, {seconds:.0f} s from now (more "
                f"than the {self._max_wait:.0f} s Regent waits); try again later",
                status=429,
                url=self.host,
            )
        self._pause(seconds, "Docker Hub API: X-RateLimit-Remaining was 0; waiting for X-RateLimit-Reset")

    def _pause(self, seconds: float, reason: str) -> float:
        log.warning("%s; waiting %.1f s", reason, seconds)
        with self._lock:
            self.waits.append(RateWait(seconds=seconds, reason=reason))
        self._sleep(seconds)
        return seconds

    def _send(self, method: str, path: str, query: dict[str, str] | None) -> Answer:
        headers = {"accept": "application/json"}
        token = self._bearer()
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return self._exchange(method, path, params=query, headers=headers)

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        payload: dict[str, str] | None = None,
    ) -> Answer:
        with self._lock:
            self.requests += 1
        request = self._http.build_request(
            method, self.base_url + path, params=params, headers=headers, json=payload
        )
        deadline = time.monotonic() + REQUEST_DEADLINE
        try:
            # never follow a redirect: the bearer token (or the secret) must not go to another host
            response = self._http.send(request, stream=True, follow_redirects=False)
            try:
                return read_capped(response, MAX_BODY, what=f"Docker Hub {method} {path}", deadline=deadline)
            finally:
                response.close()
        except httpx.TimeoutException:
            raise Unreachable(f"Docker Hub API {self.host} timed out", url=self.host) from None
        except httpx.TransportError as exc:
            raise Unreachable(f"Docker Hub API {self.host} unreachable ({type(exc).__name__})") from None

    def _bearer(self) -> str | None:
        if self._credentials is None:
            return None
        with self._token_lock:  # crawl workers start together: one of them fetches, the others wait
            return self._fresh_token()

    def _fresh_token(self) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._token_until:
                return self._token
        assert self._credentials is not None
        identifier, secret = self._credentials
        body = {"identifier": identifier or "", "secret": secret or ""}
        response = self._retrying(
            "POST",
            f"POST {self.host}/v2/auth/token",
            lambda: self._exchange("POST", "/v2/auth/token", payload=body),
        )
        if response.status_code in {401, 403}:
            raise AuthError(
                f"Docker Hub rejected the credentials of {identifier!r} (POST /v2/auth/token answered "
                f"{response.status_code}); check the username and the access token",
                status=response.status_code,
                url=self.host,
            )
        if response.status_code != 200:
            raise UpstreamError(
                f"Docker Hub token request answered {response.status_code}", status=response.status_code
            )
        token = parse_json_object(response.content, what="Docker Hub token answer").get("access_token")
        if not isinstance(token, str) or not token:
            raise BadResponse("Docker Hub token answer has no access_token", url=self.host)
        with self._lock:
            self._token = token
            self._token_until = self._clock() + TOKEN_LIFETIME - TOKEN_MARGIN
        return token

    def _drop_token(self) -> None:
        with self._lock:
            self._token, self._token_until = None, 0.0


def _checked(response: Answer, where: str) -> Answer:
    status = response.status_code
    if status < 300:
        return response
    detail = _detail(response)
    if status == 404:
        raise NotFound(f"Docker Hub: not found: {where}{detail}", status=404)
    if status in {401, 403}:
        raise AuthError(f"Docker Hub refused ({status}): {where}{detail}", status=status)
    raise UpstreamError(f"Docker Hub answered {status}: {where}{detail}", status=status)


def _detail(response: Answer) -> str:
    """The Hub's `detail`/`message` text (its error schema), short, for the error message."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(body, dict):
        return ""
    text = body.get("detail") or body.get("message")
    return f" ({str(text)[:200]})" if text else ""


def _tag(item: dict[str, Any], host: str) -> HubTag:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise BadResponse("Docker Hub: a tag has no name", url=host)
    images = tuple(_image(raw) for raw in _image_list(item.get("images")))
    digest = item.get("digest")  # real answers carry the tag's digest here (an index's, for multi-arch)
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        # The published schema has one image object; a single image's digest is the tag's digest.
        digest = images[0].digest if len(images) == 1 else None
    return HubTag(
        name=name,
        digest=digest,
        full_size=_int(item.get("full_size")),
        last_pushed=_time(item.get("tag_last_pushed")),
        last_pulled=_time(item.get("tag_last_pulled")),
        images=images,
    )


def _image_list(value: object) -> list[dict[str, Any]]:
    # latest.yaml types `images` as one object; hub-tool (and real answers) use a list: accept both.
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _image(raw: dict[str, Any]) -> HubImage:
    digest = raw.get("digest")
    return HubImage(
        digest=digest if isinstance(digest, str) else "",
        size=_int(raw.get("size")),
        last_pushed=_time(raw.get("last_pushed")),
        last_pulled=_time(raw.get("last_pulled")),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _time(value: object) -> datetime | None:
    """An ISO 8601 time; None when absent or unreadable (the Hub sends null for "never")."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.year < 1971:  # the Hub's "0001-01-01T00:00:00Z" means never
        return None
    return moment


def _segment(value: str) -> str:
    """One path segment, escaped: a name from outside must never add segments of its own."""
    if not value or value in {".", ".."}:
        raise BadResponse(f"Docker Hub: {value!r} is not a name Regent will put in a URL")
    return quote(value, safe="")
