"""A fake Docker Hub for the rate-limit check: auth.docker.io's token endpoint and a HEAD-able manifest
whose `ratelimit-*` headers the test sets (shapes as Docker documents and real answers show).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http_server import BackgroundServer, QuietHandler

TOKEN = "fake-hub-token"


@dataclass
class HubState:
    """What the fake answers; tests change it directly."""

    limit: str | None = "100;w=21600"
    remaining: str | None = "76;w=21600"
    source: str = "203.0.113.9"
    status: int = 200
    users: dict[str, str] = field(default_factory=dict)  # username -> password for authenticated tokens
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, query)


class FakeDockerHub(BackgroundServer):
    """Serves /token and /v2/ratelimitpreview/test/manifests/latest on one loopback port."""

    def __init__(self) -> None:
        self.state = HubState()
        super().__init__(_handler(self.state))

    @property
    def auth_url(self) -> str:
        """The token endpoint (stands in for https://auth.docker.io/token)."""
        return f"{self.url}/token"


def _handler(state: HubState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(("GET", parts.path, parts.query))
            if parts.path != "/token":
                self.send_body(404, b"{}")
                return
            query = parse_qs(parts.query)
            if query.get("service") != ["registry.docker.io"]:
                self.send_body(400, b'{"details":"missing service"}')
                return
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                if state.users.get(user) != password:
                    self.send_body(401, b'{"details":"incorrect username or password"}')
                    return
            body = json.dumps({"token": TOKEN, "access_token": TOKEN, "expires_in": 300}).encode()
            self.send_body(200, body, {"Content-Type": "application/json"})

        def do_HEAD(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(("HEAD", parts.path, parts.query))
            if parts.path != "/v2/ratelimitpreview/test/manifests/latest":
                self.send_body(404, b"")
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_body(
                    401, b"", {"WWW-Authenticate": 'Bearer realm="x",service="registry.docker.io"'}
                )
                return
            headers = {"docker-ratelimit-source": state.source}
            if state.limit is not None:
                headers["ratelimit-limit"] = state.limit
            if state.remaining is not None:
                headers["ratelimit-remaining"] = state.remaining
            self.send_body(state.status, b"", headers)

    return Handler
