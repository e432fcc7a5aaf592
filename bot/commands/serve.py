"""`regent serve`: the Slack app on top of the runtime, over Socket Mode or HTTP, plus /healthz.

Socket Mode when SLACK_APP_TOKEN is set (outbound only: no public endpoint); otherwise HTTP at
/slack/events, verified with SLACK_SIGNING_SECRET. The HTTP server runs in both modes (health checks, and
the routes later features mount). On start, approved proposals that never ran (a restart between the
click and the execution) are executed; every minute overdue proposals are expired and their cards updated.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from bot.app import DB_NAME, Runtime, build_runtime
from bot.approvals import Authorizer
from bot.commands.doctor import ReadOnlyAuthorizer, start_check
from bot.config.settings import SlackEnv, load_llm_env, load_secrets, load_settings, load_slack_env, state_dir
from bot.serve.digest import DigestService, digest_service_for
from bot.serve.events import EventsService, events_service_for
from bot.slack.app import RegentSlack, SlackServices
from bot.slack.connect import (
    EVENTS_PATH,
    SocketModeConnection,
    events_handler,
    make_web_client,
    usergroup_members,
)
from bot.slack.dedupe import EventDeduper
from bot.slack.reports import AuditSink, ToolboxCommands
from bot.web.server import HttpServer, Router
from bot.web.vulns import mount_vulns_endpoint
from tools.errors import ConfigError
from tools.state import connect

log = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0


class SlackService:
    """The running Slack front end: app, HTTP server, optional Socket Mode connection, housekeeping."""

    def __init__(
        self,
        runtime: Runtime,
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
        self.slack = RegentSlack(
            client=client,
            services=slack_services(
                runtime, list_members=usergroup_members(client), answer_workers=answer_workers
            ),
            signing_secret=secret.get_secret_value() if secret else None,
        )
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
    runtime: Runtime, *, list_members: Callable[[str], list[str]], answer_workers: int = 4
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
        run_plan=runtime.run_plan,
        deduper=EventDeduper(connect(runtime.state_dir / DB_NAME)),
        agent=runtime.agent,
        commands=ToolboxCommands(runtime.toolbox.context, audit=AuditSink(runtime.audit.append)),
        answer_workers=answer_workers,
    )


def run_serve(args: argparse.Namespace) -> int:
    """The `regent serve` command: run until SIGINT/SIGTERM."""
    stop = _stop_on_signals()  # before anything starts: a SIGTERM during startup still stops cleanly
    settings = load_settings(args.config)
    slack_env = load_slack_env()
    slack_secrets = [s.get_secret_value() for s in (slack_env.bot_token, slack_env.app_token) if s]
    runtime = build_runtime(
        settings=settings,
        secrets=load_secrets(settings),
        state_dir=state_dir(),
        llm_env=load_llm_env(),
        extra_secrets=slack_secrets,
    )
    events: EventsService | None = None
    digest: DigestService | None = None
    try:
        service = SlackService(runtime, slack_env, host=args.host, port=args.port)
        mount_vulns_endpoint(service.router, settings=settings, db_path=runtime.state_dir / DB_NAME)
        events = events_service_for(runtime, slack=service.slack.client)  # None without the secret
        if events is not None:
            events.mount(service.router)  # POST /events/registry, /events/harbor
            events.start()
        digest = digest_service_for(runtime, slack=service.slack)  # None without a digest channel
        service.start()
        start_check(runtime, write=lambda line: print(line, file=sys.stderr))  # logs; never blocks start
        if digest is not None:
            digest.start()  # weekdays 09:00 by default; one digest per day, even across restarts
        mode = "Socket Mode" if service.socket_mode else f"HTTP at {EVENTS_PATH}"
        llm = "with" if runtime.agent is not None else "without"
        print(
            f"regent: serving Slack over {mode}, {llm} a language model; "
            f"health on http://{args.host}:{service.http.port}/healthz",
            file=sys.stderr,
        )
        stop.wait()
        service.stop()
    finally:
        if digest is not None:
            digest.close()
        if events is not None:
            events.close()
        runtime.close()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
