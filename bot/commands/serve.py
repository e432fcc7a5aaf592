"""`regent serve`: the Slack app, the webhooks and the scheduled digest, on top of the one app.

Everything comes from `bot.app.app_from_env`; the features are composed in bot/serve/ (slack, events,
digest). Runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from bot.app import DB_NAME, app_from_env
from bot.commands.doctor import start_check
from bot.serve.digest import DigestService, digest_service_for
from bot.serve.events import EventsService, events_service_for
from bot.serve.slack import SlackService
from bot.slack.alerts import SlackAlertPoster
from bot.slack.connect import EVENTS_PATH
from bot.web.vulns import mount_vulns_endpoint


def run_serve(args: argparse.Namespace) -> int:
    """The `regent serve` command: run until SIGINT/SIGTERM."""
    stop = _stop_on_signals()  # before anything starts: a SIGTERM during startup still stops cleanly
    runtime = app_from_env(config=args.config)
    settings, slack_env = runtime.settings, runtime.secrets.slack
    events: EventsService | None = None
    digest: DigestService | None = None
    try:
        service = SlackService(runtime, slack_env, host=args.host, port=args.port)
        mount_vulns_endpoint(
            service.router,
            settings=settings,
            db_path=runtime.state_dir / DB_NAME,
            token=runtime.secrets.vulns.upload_token,
        )
        events = events_service_for(
            runtime, alerts=SlackAlertPoster(service.slack.client)
        )  # None without the secret
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
