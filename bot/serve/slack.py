"""The Slack front end of `regent serve`: the Bolt app, the HTTP server, Socket Mode, housekeeping.

Socket Mode when SLACK_APP_TOKEN is set (outbound only: no public endpoint); otherwise HTTP at
/slack/events, verified with SLACK_SIGNING_SECRET. The HTTP server runs in both modes (health checks, and
the routes other features mount). On start, approved proposals that never ran (a restart between the
click and the execution) are executed; every minute overdue proposals are expired and their cards updated.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bot.app import DB_NAME, App
from bot.approvals import Authorizer
from bot.approvals.authorization import ReadOnlyAuthorizer
from bot.config import SlackEnv
from bot.serve.home import home_for
from bot.slack.app import RegentSlack, SlackServices
from bot.slack.connect import (
    EVENTS_PATH,
    SocketModeConnection,
    events_handler,
    make_web_client,
    reaching_slack,
    usergroup_members,
)
from bot.slack.dedupe import EventDeduper
from bot.slack.reports import AuditSink, ToolboxCommands
from bot.web.server import HttpServer, Router
from tools.errors import ConfigError
from tools.state import connect

log = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0


class SlackService:
    """The running Slack front end: app, HTTP server, optional Socket Mode connection, housekeeping."""

    def __init__(
        self,
        runtime: App,
        slack_env: SlackEnv,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        answer_workers: int = 4,
    ) -> None:
        if slack_env.bot_token is None:
            raise ConfigError("set SLACK_BOT_TOKEN (the bot token, xoxb-…) to serve Slack")
        self.socket_mode = slack_env.app_token is not None
        if not self.socket_mode and slack_env.signing_secret is None:
            raise ConfigError("set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        self.runtime = runtime
        client = make_web_client(token=slack_env.bot_token.get_secret_value(), base_url=slack_env.api_url)
        secret = None if self.socket_mode or not slack_env.signing_secret else slack_env.signing_secret
        self._api_url = slack_env.api_url
        with reaching_slack(self._api_url):  # Bolt calls auth.test here
            self.slack = RegentSlack(
                client=client,
                services=slack_services(
                    runtime, list_members=usergroup_members(client), answer_workers=answer_workers
                ),
                signing_secret=secret.get_secret_value() if secret else None,
            )
        self._home = home_for(runtime, self.slack)  # the App Home tab (app_home_opened)
        self.router = Router(health=self.health)
        if not self.socket_mode:
            self.router.mount(EVENTS_PATH, events_handler(self.slack))
        self.http = HttpServer(self.router, host=host, port=port)
        self._socket: SocketModeConnection | None = None
        if slack_env.app_token is not None:
            self._socket = SocketModeConnection(self.slack, app_token=slack_env.app_token.get_secret_value())
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="regent-sweep", daemon=True)

    def start(self) -> None:
        """Serve HTTP, connect Socket Mode if configured, finish interrupted approvals, start sweeping."""
        self.http.start()
        if self._socket is not None:
            with reaching_slack(self._api_url):  # apps.connections.open, then the websocket
                self._socket.connect()
        if self.runtime.toolbox.context.read_only is None:  # read-only runs no approved work
            self.slack.tasks.submit(self.slack.desk.resume)
        self._sweeper.start()

    def stop(self) -> None:
        """Disconnect, stop serving, let running work finish."""
        self._stop.set()
        if self._socket is not None:
            self._socket.close()
        self.http.stop()
        self.slack.close()
        self._home.close()
        if self._sweeper.is_alive():
            self._sweeper.join(timeout=5)

    def health(self) -> dict[str, Any]:
        """What /healthz reports: mode, connection, whether an LLM is configured."""
        connected = self._socket.connected if self._socket is not None else None
        return {
            "ok": connected is not False,
            "mode": "socket" if self.socket_mode else "http",
            "socket_connected": connected,
            "llm": self.runtime.agent is not None,
        }

    def _sweep(self) -> None:
        while not self._stop.wait(SWEEP_SECONDS):
            try:
                self.slack.desk.expire()
            except Exception:  # housekeeping must never stop the server; the next round retries
                log.exception("expiring proposals failed")


def slack_services(
    runtime: App, *, list_members: Callable[[str], list[str]], answer_workers: int = 4
) -> SlackServices:
    """The Slack app's services from the runtime: approvals config, stores, agent and commands."""
    config = runtime.settings.slack
    approvers: dict[str, Any] = {
        "users": config.approvers.users,
        "usergroups": config.approvers.usergroups,
        "requester_may_approve": config.requester_may_approve,
        "list_usergroup_members": list_members,
        "cache_seconds": config.usergroup_cache_seconds,
    }
    read_only = runtime.toolbox.context.read_only
    authorizer = (
        Authorizer(**approvers) if read_only is None else ReadOnlyAuthorizer(reason=read_only, **approvers)
    )
    return SlackServices(
        proposals=runtime.proposals,
        authorizer=authorizer,
        deduper=EventDeduper(connect(runtime.state_dir / DB_NAME)),
        agent=runtime.agent,
        commands=ToolboxCommands(runtime.toolbox.context, audit=AuditSink(runtime.audit.append)),
        answer_workers=answer_workers,
    )
