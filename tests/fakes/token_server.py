"""A registry token service for tests: checks basic auth and mints RS256 tokens for the requested scope."""

from __future__ import annotations

import base64
import json
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from bot.demo.registry_server import RegistryServer
from tests.fakes.http_server import BackgroundServer, QuietHandler


class TokenServer(BackgroundServer):
    """Grants the scopes it is asked for to `users`; anonymous requests are refused.

    `actions` limits what a user may get (e.g. {"reader": {"pull"}}): like real token services, the token
    then holds only the granted part of each requested scope, and the registry answers 401
    insufficient_scope for the rest. Users not listed get every action they ask for.
    """

    def __init__(self, users: dict[str, str], *, actions: dict[str, set[str]] | None = None) -> None:
        self.users = users
        self.actions = dict(actions or {})
        self.registry: RegistryServer | None = None
        self.issued: Counter[str] = Counter()
        super().__init__(_TokenHandler)

    @property
    def realm(self) -> str:
        """The realm URL to configure in the registry."""
        return f"{self.url}/token"


def _access(scope: str, allowed: set[str] | None = None) -> list[dict[str, object]]:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    granted = [a for a in actions.split(",") if allowed is None or a in allowed or kind == "registry"]
    return [{"type": kind, "name": name, "actions": granted}] if name else []


class _TokenHandler(QuietHandler):
    def do_GET(self) -> None:
        server: TokenServer = self.server.owner  # type: ignore[attr-defined]
        header = self.headers.get("Authorization", "")
        user, _, password = base64.b64decode(header.removeprefix("Basic ") or b"").decode().partition(":")
        if not header.startswith("Basic ") or server.users.get(user) != password or server.registry is None:
            self.send_body(401, b'{"details":"bad credentials"}', {"Content-Type": "application/json"})
            return
        query = parse_qs(urlsplit(self.path).query)
        allowed = server.actions.get(user)
        access = [a for scope in query.get("scope", []) for a in _access(scope, allowed)]
        server.issued[",".join(query.get("scope", []))] += 1
        token = server.registry.mint_token(access)
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send_body(200, body, {"Content-Type": "application/json"})
