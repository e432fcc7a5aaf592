"""Registry authentication: parse `WWW-Authenticate` challenges and keep bearer tokens per scope."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import httpx

_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed `WWW-Authenticate` header."""

    scheme: str  # "bearer" or "basic"
    realm: str = ""
    service: str = ""
    scope: str = ""


def parse_challenge(header: str) -> Challenge | None:
    """Parse `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; None when unusable."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in {"bearer", "basic"}:
        return None
    params = dict(_PARAM_RE.findall(rest))
    return Challenge(
        scheme=scheme,
        realm=params.get("realm", ""),
        service=params.get("service", ""),
        scope=params.get("scope", ""),
    )


def scope_for(path: str, method: str) -> str:
    """The token scope a request path needs, used as the cache key before any challenge arrives."""
    if path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    if path.startswith("/acr/v1/"):
        return _acr_scope(path, method)
    repo = _repository_of(path)
    if not repo:
        return ""
    action = "delete" if method == "DELETE" else "pull"
    return f"repository:{repo}:{action}"


def _acr_scope(path: str, method: str) -> str:
    """ACR's `/acr/v1` metadata routes take the v2 token with the scopes ACR's challenges name for them:
    `metadata_read` to list manifests, `delete` to delete a tag (tools/registry/kinds/azure)."""
    body = path.removeprefix("/acr/v1/")
    for marker in ("/_manifests", "/_tags"):
        index = body.find(marker)  # no repository path component starts with "_" (distribution grammar)
        if index > 0:
            return f"repository:{body[:index]}:{'delete' if method == 'DELETE' else 'metadata_read'}"
    return ""


def _repository_of(path: str) -> str:
    body = path.removeprefix("/v2/")
    for marker in ("/manifests/", "/tags/list", "/blobs/"):
        index = body.find(marker)
        if index > 0:
            return body[:index]
    return ""


class TokenCache:
    """Bearer tokens keyed by scope, with their expiry; safe to share between threads."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, scope: str) -> str | None:
        """A token for `scope` that has not expired, if any."""
        with self._lock:
            entry = self._tokens.get(scope)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, scope: str, token: str, *, expires_in: float) -> None:
        """Remember `token` for `scope`; expire it a little early so it is never sent stale."""
        with self._lock:
            self._tokens[scope] = (token, time.monotonic() + max(expires_in - 10.0, 1.0))


def basic_authorization(username: str, password: str) -> str:
    """The Authorization value of HTTP basic auth, from httpx.BasicAuth's public auth flow."""
    # A header value, not an auth object, because the direct transport sends plain header lists.
    request = httpx.Request("GET", "http://registry.invalid/")  # the flow only sets a header on it
    return next(httpx.BasicAuth(username, password).sync_auth_flow(request)).headers["authorization"]
