"""A registry token service for tests: checks basic auth and mints RS256 tokens for the requested scope."""

from __future__ import annotations

import base64
import json
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.registry_server import RegistryServer
from tests.fakes.http_server import BackgroundServer, QuietHandler


class TokenServer(BackgroundServer):
    """Grants every scope it is asked for to `users`; anonymous requests are refused."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.registry: RegistryServer | None = None
        self.issued: Counter[str] = Counter()
        super().__init__(_TokenHandler)

    @property
    def realm(self) -> str:
        """The realm URL to configure in the registry."""
        return f"{self.url}/token"


def _access(scope: str) -> list[dict[str, object]]:
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return [{"type": kind, "name": name, "actions": actions.split(",")}] if name else []


class _TokenHandler(QuietHandler):
    def do_GET(self) -> None:
        server: TokenServer = self.server.owner  # type: ignore[attr-defined]
        header = self.headers.get("Authorization", "")
        user, _, password = base64.b64decode(header.removeprefix("Basic ") or b"").decode().partition(":")
        if not header.startswith("Basic ") or server.users.get(user) != password or server.registry is None:
            self.send_body(401, b'{"details":"bad credentials"}', {"Content-Type": "application/json"})
            return
        query = parse_qs(urlsplit(self.path).query)
        access = [a for scope in query.get("scope", []) for a in _access(scope)]
        server.issued[",".join(query.get("scope", []))] += 1
        token = server.registry.mint_token(access)
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send_body(200, body, {"Content-Type": "application/json"})
