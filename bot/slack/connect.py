"""Connecting the app to Slack: the Web API client, Socket Mode, and the HTTP events handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.error import URLError

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.slack.app import RegentSlack
from tools.errors import AuthError, Unreachable, UpstreamError

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


@contextmanager
def reaching_slack(api_url: str) -> Iterator[None]:
    """Start-up calls to Slack (auth.test, apps.connections.open): a failure is a RegentError saying why.

    Bolt checks the bot token when the app is built and Socket Mode dials out on start; both raise the
    SDKs' own errors (urllib's URLError for a closed port or DNS), which would be an "internal error".
    """
    try:
        yield
    except (URLError, OSError) as exc:  # URLError is an OSError; so are refused and timed-out sockets
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise Unreachable(
            f"cannot reach the Slack API at {api_url} ({reason}); "
            "check SLACK_API_URL, the network and any proxy",
            url=api_url,
        ) from None
    except (SlackApiError, BoltError) as exc:
        raise _refused(exc, api_url) from None
    except SlackClientError as exc:
        raise UpstreamError(f"Slack API at {api_url}: {type(exc).__name__}", url=api_url) from None


def _refused(exc: SlackApiError | BoltError, api_url: str) -> UpstreamError:
    # Bolt wraps a failed auth.test in a BoltError whose context is the SlackApiError; the answer's
    # `error` code (invalid_auth, not_authed, account_inactive…) is what the operator needs, never the body.
    api = exc if isinstance(exc, SlackApiError) else exc.__context__
    if isinstance(api, SlackApiError):
        code = str(api.response.get("error") or api.response.status_code)
        return AuthError(
            f"Slack refused the bot token or app token ({code}); check SLACK_BOT_TOKEN and SLACK_APP_TOKEN",
            url=api_url,
        )
    return UpstreamError(f"Slack API at {api_url}: the app could not start", url=api_url)


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
