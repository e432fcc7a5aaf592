"""Connecting the app to Slack: the Web API client, Socket Mode, and the HTTP events handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.slack.app import RegentSlack

EVENTS_PATH = "/slack/events"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_web_client(*, token: str, base_url: str, timeout: int = 15) -> WebClient:
    """A Web API client that retries dropped connections and 429s (slack_sdk retries neither by default)."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def usergroup_members(client: WebClient) -> Callable[[str], list[str]]:
    """Membership lookup for the Authorizer: usergroups.users.list (scope usergroups:read)."""

    def lookup(usergroup: str) -> list[str]:
        return [str(user) for user in client.usergroups_users_list(usergroup=usergroup).get("users") or []]

    return lookup


def events_handler(slack: RegentSlack) -> WsgiApp:
    """The WSGI app to mount at /slack/events (HTTP mode; requests are verified with the signing secret)."""
    handler = SlackRequestHandler(slack.app, path=EVENTS_PATH)
    return handler


class SocketModeConnection:
    """Socket Mode: dial out to Slack over a websocket (no public endpoint needed)."""

    def __init__(self, slack: RegentSlack, *, app_token: str, concurrency: int = 10) -> None:
        self._handler = SocketModeHandler(
            slack.app, app_token=app_token, web_client=slack.client, concurrency=concurrency
        )

    def connect(self) -> None:
        """Open the connection (apps.connections.open, then the websocket); returns once connected."""
        self._handler.connect()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Disconnect."""
        self._handler.close()  # type: ignore[no-untyped-call]

    @property
    def connected(self) -> bool:
        """True while the websocket is up."""
        return bool(self._handler.client.is_connected())
