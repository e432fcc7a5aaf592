"""`regent serve`: the Slack app, the webhooks, scheduled crawls and the digest, on top of the one app.

Everything comes from `bot.app.app_from_env`; the features are composed in bot/serve/ (slack, events,
inventory, digest, observe: /readyz and /metrics). Runs until SIGINT or SIGTERM, then stops in an order
that loses no acknowledged work: first what brings new work (crawl schedule, Socket Mode, HTTP), then
the Slack pools drain (answers and approvals finish; an approval cut off by a hard kill stays
`executing` and is resumed at the next start), then the monitors, and the stores close last.
"""

from __future__ import annotations

import argparse
import signal
import threading

from bot.app import DB_NAME, App, app_from_env
from bot.commands.doctor import start_check
from bot.logs import say
from bot.serve.digest import DigestService, digest_service_for
from bot.serve.events import EventsService, events_service_for
from bot.serve.inventory import InventoryService, inventory_service_for
from bot.serve.observe import CountingRouter, Readiness, mount_observability, readiness_age_limit
from bot.serve.slack import SlackService
from bot.slack.alerts import SlackAlertPoster
from bot.slack.connect import EVENTS_PATH
from bot.web.vulns import mount_vulns_endpoint


def run_serve(args: argparse.Namespace) -> int:
    """The `regent serve` command: run until SIGINT/SIGTERM."""
    stop = _stop_on_signals()  # before anything starts: a SIGTERM during startup still stops cleanly
    runtime = app_from_env(config=args.config)
    settings, slack_env = runtime.settings, runtime.secrets.slack
    service: SlackService | None = None
    events: EventsService | None = None
    digest: DigestService | None = None
    inventory: InventoryService | None = None
    readiness: Readiness | None = None
    try:
        service = SlackService(runtime, slack_env, host=args.host, port=args.port)
        mount_vulns_endpoint(
            CountingRouter(service.router, runtime.metrics),  # uploads counted as webhook events
            settings=settings,
            db_path=runtime.state_dir / DB_NAME,
            token=runtime.secrets.vulns.upload_token,
        )
        events = events_service_for(
            runtime, alerts=SlackAlertPoster(service.slack.client)
        )  # None without the secret
        inventory = inventory_service_for(runtime)  # None without inventory.crawl_cron
        if events is not None:
            events.mount(service.router)  # POST /events/registry, /events/harbor
            if inventory is not None:
                events.listen(inventory.notify)  # a push refreshes just its repository
            events.start()
        readiness = _readiness(runtime, service, inventory)
        mount_observability(service.router, runtime, readiness)
        digest = digest_service_for(runtime, slack=service.slack)  # None without a digest channel
        service.start()
        start_check(runtime, write=lambda line: say(line.removeprefix("regent: ")))  # never blocks start
        if digest is not None:
            digest.start()  # weekdays 09:00 by default; one digest per day, even across restarts
        if inventory is not None:
            inventory.start()
        mode = "Socket Mode" if service.socket_mode else f"HTTP at {EVENTS_PATH}"
        llm = "with" if runtime.agent is not None else "without"
        say(
            f"serving Slack over {mode}, {llm} a language model; "
            f"health on http://{args.host}:{service.http.port}/healthz (also /readyz, /metrics)"
        )
        stop.wait()
        say("stopping (finishing running work)")
    finally:
        _stop(runtime, service, inventory, (digest, events, readiness))
    return 0


def _stop(
    runtime: App,
    service: SlackService | None,
    inventory: InventoryService | None,
    rest: tuple[DigestService | EventsService | Readiness | None, ...],
) -> None:
    """Stop in the order of the module docstring: work sources, Slack (draining), monitors, stores."""
    if inventory is not None:
        inventory.close()  # a crawl in progress skips its remaining tags and saves nothing
    if service is not None:
        service.stop()  # Socket Mode and HTTP stop taking work; then the Slack pools drain
    for part in rest:
        if part is not None:
            part.close()
    runtime.close()


def _readiness(runtime: App, service: SlackService, inventory: InventoryService | None) -> Readiness:
    limit = readiness_age_limit(
        runtime, crawls=inventory is not None, interval=inventory.interval if inventory else None
    )
    return Readiness(runtime, connected=lambda: service.health()["socket_connected"], max_age=limit)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
