"""OCI distribution (registry v2) client: auth, catalog, tags, manifests, config blobs, delete by digest.

The only module that speaks HTTP to a registry. Every httpx exception and error status is translated
into tools.errors types here; callers never see httpx.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from diskcache import Cache
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from tools.errors import AuthError, BadResponse, NotFound, Unreachable, UpstreamError
from tools.registry.auth import Challenge, TokenCache, parse_challenge, scope_for
from tools.registry.media_types import ACCEPT_MANIFESTS, MANIFEST_TYPES
from tools.registry.retry import RetryableStatus, wait_for_retry
from tools.registry.wire import (
    error_code,
    media_type_from_body,
    next_link_query,
    parse_json_object,
    read_capped,
    realm_allowed,
    safe_digest,
    safe_reference,
    safe_repository,
)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit; anything larger is hostile
MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # catalog and tag list pages; read no further than this
CATALOG_PAGE = 1000  # distribution rejects n > 1000
REQUEST_DEADLINE = (
    60.0  # seconds for a whole answer: a read timeout alone lets a trickling body go on forever
)
MAX_REDIRECTS = 5
# The only digest probe_delete ever sends. No content hashes to it (that would be a SHA-256 preimage), so no
# registry can hold a manifest or blob under it, and a DELETE of it can never remove anything.
PROBE_DIGEST = "sha256:" + "0" * 64
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a HEAD on a manifest tells: its digest, media type and size."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class DeleteProbe:
    """How a registry answered a DELETE of PROBE_DIGEST: the status and its error code, if any."""

    status: int | None  # None: no HTTP answer (unreachable, or the token service refused)
    code: str  # e.g. MANIFEST_UNKNOWN, UNSUPPORTED, UNAUTHORIZED, DENIED; "" when the body has none
    detail: str  # one line for people, no secrets


@dataclass(frozen=True, slots=True)
class RawManifest:
    """A manifest document as fetched, verified against its digest."""

    digest: str
    media_type: str
    body: bytes

    def json(self) -> dict[str, Any]:
        """The parsed document; BadResponse when it is not a JSON object."""
        return parse_json_object(self.body, what=f"manifest {self.digest}")


class RegistryClient:
    """A client for one registry, reached directly or through Portainer BE's `/api/registries/{id}` proxy."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client,
        username: str | None = None,
        password: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        cache: Cache | None = None,
        tag_list_ttl: float = 60.0,
        attempts: int = 4,
        max_retry_wait: float = 30.0,
        catalog_page: int = CATALOG_PAGE,
        request_deadline: float = REQUEST_DEADLINE,
        blob_redirect_hosts: Collection[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Blob GETs may be redirected to storage (S3, GCS); only to these hosts (or our own origin).
        self._redirect_hosts = frozenset(h.lower() for h in blob_redirect_hosts)
        self._http = http
        self._basic = (username, password) if username is not None and password is not None else None
        self._headers = dict(headers or {})
        self._params = dict(params or {})
        self._cache = cache
        self._tag_list_ttl = tag_list_ttl
        self._attempts = attempts
        self._max_retry_wait = max_retry_wait
        self._catalog_page = min(max(catalog_page, 1), CATALOG_PAGE)
        self._deadline = request_deadline
        self._tokens = TokenCache()
        self._use_basic = False
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    # ----- public API -------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the registry answers `/v2/` and accepts our credentials."""
        self._request("GET", "/v2/")

    def catalog(self) -> list[str]:
        """Every repository name, following `Link` pagination."""
        names: list[str] = []
        query: dict[str, str] = {"n": str(self._catalog_page)}
        while True:
            response = self._request("GET", "/v2/_catalog", query=query)
            page = parse_json_object(response.content, what="catalog").get("repositories") or []
            if not isinstance(page, list) or not all(isinstance(n, str) for n in page):
                raise BadResponse("catalog: 'repositories' is not a list of names", url=self.base_url)
            names.extend(page)
            next_query = next_link_query(response.headers.get("link", ""))
            if next_query is None or not page:
                return names
            query = next_query

    def list_tags(self, repository: str, *, fresh: bool = False) -> list[str]:
        """Tags of a repository (empty when all its manifests were deleted), following `Link` pages."""
        key = f"tags:{self.base_url}:{repository}"
        if not fresh and self._cache is not None:
            cached = self._cache.get(key)
            if isinstance(cached, list):
                return cached
        tags: list[str] = []
        query: dict[str, str] = {}
        while True:
            response = self._request("GET", f"/v2/{safe_repository(repository)}/tags/list", query=query)
            page = parse_json_object(response.content, what=f"tags of {repository}").get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise BadResponse(f"tags of {repository}: 'tags' is not a list", url=self.base_url)
            tags.extend(page)
            next_query = next_link_query(response.headers.get("link", ""))
            if next_query is None or not page:
                break
            query = next_query
        if self._cache is not None and self._tag_list_ttl > 0:
            self._cache.set(key, tags, expire=self._tag_list_ttl)
        return tags

    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        """Digest, type and size of a manifest by tag or digest; None when it does not exist."""
        try:
            response = self._request(
                "HEAD",
                f"/v2/{safe_repository(repository)}/manifests/{safe_reference(reference)}",
                accept=ACCEPT_MANIFESTS,
            )
        except NotFound:
            return None
        digest = response.headers.get("docker-content-digest", "")
        if not digest:
            if reference.startswith("sha256:"):
                digest = reference
            else:  # e.g. ECR: no digest header on HEAD; the body has to be hashed instead
                return _head_of(self.get_manifest(repository, reference))
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        size = int(response.headers.get("content-length", "0") or 0)
        return ManifestHead(digest=digest, media_type=media_type, size=size)

    def get_manifest(self, repository: str, reference: str) -> RawManifest:
        """Fetch a manifest by tag or digest; by digest it is served from the cache when seen before."""
        if reference.startswith("sha256:"):
            cached = self.cached_manifest(reference)
            if cached is not None:
                return cached
        response = self._request(
            "GET",
            f"/v2/{safe_repository(repository)}/manifests/{safe_reference(reference)}",
            accept=ACCEPT_MANIFESTS,
            max_bytes=MAX_MANIFEST_BYTES,
        )
        body = response.content
        if len(body) > MAX_MANIFEST_BYTES:
            raise BadResponse(f"manifest {repository}:{reference} is {len(body)} bytes, over the 4 MiB limit")
        computed = "sha256:" + hashlib.sha256(body).hexdigest()
        claimed = response.headers.get("docker-content-digest", "") or computed
        expected = reference if reference.startswith("sha256:") else claimed
        if computed != expected or claimed != computed:
            raise BadResponse(
                f"manifest {repository}:{reference} does not match its digest", url=self.base_url
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            media_type = media_type_from_body(body, fallback=media_type)
        manifest = RawManifest(digest=computed, media_type=media_type, body=body)
        if self._cache is not None:
            self._cache.set(f"manifest:{computed}", (media_type, body))
        return manifest

    def cached_manifest(self, digest: str) -> RawManifest | None:
        """A manifest seen before, from the content-addressed cache (no request)."""
        if self._cache is None:
            return None
        entry = self._cache.get(f"manifest:{digest}")
        if not isinstance(entry, tuple):
            return None
        media_type, body = entry
        return RawManifest(digest=digest, media_type=media_type, body=body)

    def get_blob_json(self, repository: str, digest: str) -> dict[str, Any]:
        """A small JSON blob (an image config) by digest, verified and cached forever."""
        key = f"blob:{digest}"
        if self._cache is not None:
            cached = self._cache.get(key)
            if isinstance(cached, bytes):
                return parse_json_object(cached, what=f"blob {digest}")
        response = self._request(
            "GET",
            f"/v2/{safe_repository(repository)}/blobs/{safe_digest(digest)}",
            follow_redirects=True,
            max_bytes=MAX_CONFIG_BYTES,
        )
        body = response.content
        if len(body) > MAX_CONFIG_BYTES:
            raise BadResponse(f"config blob {digest} is {len(body)} bytes, over the 8 MiB limit")
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise BadResponse(f"blob {digest} in {repository} does not match its digest", url=self.base_url)
        parsed = parse_json_object(body, what=f"blob {digest}")
        if self._cache is not None:
            self._cache.set(key, body)
        return parsed

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest by digest (every tag on it goes too); False when it was already gone."""
        if not digest.startswith("sha256:"):
            raise ValueError("delete_manifest takes a digest, never a tag")
        try:
            self._request(
                "DELETE",
                f"/v2/{safe_repository(repository)}/manifests/{safe_digest(digest)}",
                accept=ACCEPT_MANIFESTS,
            )
        except NotFound:
            return False
        return True

    def probe_delete(self, repository: str) -> DeleteProbe:
        """Whether deletes would work: DELETE the all-zero digest, which names nothing, and read the answer.

        404 MANIFEST_UNKNOWN means deletes are enabled and these credentials may delete; 405 UNSUPPORTED
        means the registry has deletes disabled; 401/403 mean the credentials may not delete. The digest is
        fixed here (PROBE_DIGEST), never a parameter, so this method cannot delete anything.
        """
        send = _Send(
            "DELETE", f"/v2/{safe_repository(repository)}/manifests/{PROBE_DIGEST}", None, None, False, 65536
        )
        assert send.path.endswith("/manifests/" + PROBE_DIGEST)
        try:
            response = self._authorized(send)
        except UpstreamError as exc:  # unreachable, or the token service refused the credentials
            return DeleteProbe(status=exc.status, code="", detail=str(exc))
        code = error_code(response).strip(" ()")
        return DeleteProbe(
            status=response.status_code, code=code, detail=f"DELETE answered {response.status_code} {code}"
        )

    def catalog_page(self, n: int = 1) -> list[str]:
        """The first `n` repository names (one request; a cheap read check)."""
        response = self._request("GET", "/v2/_catalog", query={"n": str(max(1, min(n, CATALOG_PAGE)))})
        page = parse_json_object(response.content, what="catalog").get("repositories") or []
        if not isinstance(page, list) or not all(isinstance(name, str) for name in page):
            raise BadResponse("catalog: 'repositories' is not a list of names", url=self.base_url)
        return page

    # ----- transport --------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        accept: str | None = None,
        follow_redirects: bool = False,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> httpx.Response:
        send = _Send(method, path, query, accept, follow_redirects, max_bytes)
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

    def _send_authorized(self, send: _Send) -> httpx.Response:
        return self._check(self._authorized(send), send.method, send.path)

    def _authorized(self, send: _Send) -> httpx.Response:
        """Send, answering one auth challenge; the response is returned whatever its status."""
        scope = scope_for(send.path, send.method)
        response = self._send(send, self._auth_header(scope))
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is not None and self._answer_challenge(challenge, scope):
                response = self._send(send, self._auth_header(scope))
        return response

    def _send(self, send: _Send, auth: dict[str, str]) -> httpx.Response:
        headers = {**self._headers, **auth}
        if send.accept:
            headers["Accept"] = send.accept
        params = {**self._params, **(send.query or {})}
        request = self._http.build_request(
            send.method, self.base_url + send.path, params=params or None, headers=headers
        )
        response = self._transfer(request, send.max_bytes)
        for _ in range(MAX_REDIRECTS if send.follow_redirects else 0):
            if response.status_code not in _REDIRECTS or "location" not in response.headers:
                break
            request = self._redirect(request, response)
            response = self._transfer(request, send.max_bytes)
        return response

    def _redirect(self, request: httpx.Request, response: httpx.Response) -> httpx.Request:
        """The next request of a blob redirect: our own origin keeps its headers; storage hosts get none.

        httpx's own redirect handling strips only `Authorization` across origins, not headers such as
        Portainer's `X-API-Key`, and follows any host; so redirects are followed here, by this policy.
        """
        target = request.url.join(response.headers["location"])
        own = httpx.URL(self.base_url)
        if target.scheme not in {"http", "https"}:
            raise BadResponse(f"registry {self._host} redirected to a {target.scheme!r} URL; refused")
        if (target.scheme, target.host, target.port) == (own.scheme, own.host, own.port):
            return self._http.build_request("GET", target, headers=request.headers)
        if target.host.lower() not in self._redirect_hosts:
            raise BadResponse(
                f"registry {self._host} redirected a blob to {target.host!r}, which is not this registry "
                "or one of its blob_redirect_hosts; refused",
                url=self._host,
            )
        if own.scheme == "https" and target.scheme != "https":
            raise BadResponse(f"registry {self._host} redirected a blob to plain http; refused")
        return self._http.build_request("GET", target)  # no Authorization, no Portainer key, no params

    def _transfer(self, request: httpx.Request, max_bytes: int) -> httpx.Response:
        """Send one request and read at most max_bytes of its body (a hostile server cannot fill memory)."""
        with self._lock:
            self.requests[request.method] += 1
        deadline = time.monotonic() + self._deadline
        what = f"{request.method} {self._host}{request.url.path}"
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
            try:
                body = read_capped(response, max_bytes, what=what, deadline=deadline)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise Unreachable(
                f"registry {self._host} timed out ({type(exc).__name__})", url=self._host
            ) from None
        except httpx.TransportError as exc:
            raise Unreachable(
                f"registry {self._host} unreachable ({type(exc).__name__})", url=self._host
            ) from None
        # The body is already decoded: a copy without Content-Encoding keeps status and headers for callers.
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    @property
    def _host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope) if scope else None
        if token is None:
            token = self._tokens.get("*")
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._use_basic and self._basic is not None:
            return {"Authorization": basic_authorization(*self._basic)}
        return {}

    def _answer_challenge(self, challenge: Challenge, scope: str) -> bool:
        if challenge.scheme == "basic":
            if self._basic is None or self._use_basic:
                return False
            self._use_basic = True
            return True
        if not realm_allowed(challenge.realm, self.base_url):
            raise AuthError(
                f"registry {self._host}: refused token realm {challenge.realm[:100]!r} "
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
            raise Unreachable(f"token service of {self._host} unreachable ({type(exc).__name__})") from None
        if response.status_code in {401, 403}:
            raise AuthError(f"registry {self._host}: token service rejected the credentials", status=401)
        if response.status_code != 200:
            raise UpstreamError(f"registry {self._host}: token service answered {response.status_code}")
        body = parse_json_object(response.content, what="token response")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise BadResponse(f"registry {self._host}: token response has no token")
        expires_in = body.get("expires_in", 60)
        return token, float(expires_in) if isinstance(expires_in, int | float) else 60.0

    def _check(self, response: httpx.Response, method: str, path: str) -> httpx.Response:
        status = response.status_code
        if status < 300:
            return response
        where = f"{method} {self._host}{path}"
        if status == 404:
            raise NotFound(f"not found: {where}{error_code(response)}", status=404, url=self._host)
        if status in {401, 403}:
            raise AuthError(f"access denied ({status}): {where}{error_code(response)}", status=status)
        if status == 429 or status >= 500:
            raise RetryableStatus(response, where)
        raise UpstreamError(f"registry answered {status}: {where}{error_code(response)}", status=status)


@dataclass(frozen=True, slots=True)
class _Send:
    """One logical request, as retries repeat it."""

    method: str
    path: str
    query: dict[str, str] | None
    accept: str | None
    follow_redirects: bool
    max_bytes: int


def _head_of(manifest: RawManifest) -> ManifestHead:
    return ManifestHead(digest=manifest.digest, media_type=manifest.media_type, size=len(manifest.body))


def basic_authorization(username: str, password: str) -> str:
    """The Authorization value of HTTP basic auth, from httpx.BasicAuth's public auth flow."""
    # A header value, not an auth object, because the direct transport sends plain header lists.
    request = httpx.Request("GET", "http://registry.invalid/")  # the flow only sets a header on it
    return next(httpx.BasicAuth(username, password).sync_auth_flow(request)).headers["authorization"]
