"""What the ACR and GAR fakes share: a RegistryFront over the real registry with its UpstreamView, and
token auth as both vendors do it (a token endpoint taking basic credentials, tokens granted per scope,
every other route challenged with `Bearer realm=…,service=…,scope=…` until a token covers its scope).
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self
from urllib.parse import urlsplit

from tests.fakes.portainer_http import Request, Response
from tests.fakes.registry_front import RegistryFront
from tests.fakes.vendor_upstream import UpstreamView

V2_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<what>manifests|tags|blobs)/(?P<rest>.*)$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def v2_scope(request: Request) -> str:
    """The token scope a v2 request needs (the catalog, or pull/push/delete on its repository); "" for
    any other path."""
    if request.path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    if match := V2_PATH.match(request.path):
        action = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(request.method, "push")
        return f"repository:{match['name']}:{action}"
    return ""


class TokenVendorFake:
    """Base of a dataclass fake with fields `upstream` and `tokens`; the subclass answers in `route`."""

    upstream: str
    tokens: dict[str, set[str]]  # issued token -> the scopes it was granted

    def __post_init__(self) -> None:
        self.view = UpstreamView(self.upstream)
        self.front = RegistryFront(self.upstream, self.route)
        self._lock = threading.Lock()

    def route(self, request: Request) -> Response | None:
        """The vendor's answer, or None to pass the request to the real registry."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The registry's URL (scheme + host:port), as Portainer stores it."""
        return self.front.url

    @property
    def host(self) -> str:
        """host:port, the service name in challenges."""
        return urlsplit(self.front.url).netloc

    @contextmanager
    def running(self) -> Iterator[Self]:
        """Serve until the block ends."""
        with self.front:
            try:
                yield self
            finally:
                self.view.close()

    def issue_token(self, request: Request) -> str:
        """A new token granted the scopes the token request asked for."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = set(request.query.get("scope", []))
        return token

    def authorized(self, request: Request, needed: str) -> bool:
        """Whether the request's bearer token was issued here and covers the `needed` scope."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return False
        with self._lock:
            granted = self.tokens.get(header[7:].strip())
        if granted is None:
            return False
        return not needed or any(scope_covers(scope, needed) for scope in granted)


def scope_covers(granted: str, needed: str) -> bool:
    """Whether a granted scope (`repository:a/b:pull,delete`) includes the needed one."""
    g_kind, _, g_rest = granted.partition(":")
    n_kind, _, n_rest = needed.partition(":")
    g_name, _, g_actions = g_rest.rpartition(":")
    n_name, _, n_action = n_rest.rpartition(":")
    actions = set(g_actions.split(","))
    return g_kind == n_kind and g_name == n_name and (n_action in actions or "*" in actions)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The user and password of a basic Authorization header, or None."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def registry_errors(code: str) -> dict[str, Any]:
    """A registry error body, `{"errors": [{"code", "message"}]}` (ACR's AcrErrors, v2's errors)."""
    return {"errors": [{"code": code, "message": code.lower().replace("_", " ")}]}
