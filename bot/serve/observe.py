"""`regent serve`'s operational endpoints: /readyz (may it take traffic?) and /metrics (Prometheus).

/healthz (bot/web/server.py) says the process is up. /readyz says whether it can do its job, and names
every failing check in a 503:
- `state_db`: the state database takes a write (a read-only or full volume fails it);
- `inventory`: the newest snapshot is younger than `inventory.max_age_minutes` (default: three crawl_cron
  intervals; not checked when neither is set or nothing is configured to crawl);
- `slack`: the Socket Mode connection is up (HTTP mode has no connection to check).
/metrics is prometheus_client's own WSGI app over the App's registry (bot/metrics.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import make_wsgi_app

from bot.app import App
from bot.metrics import Metrics
from bot.web.requests import Environ, Reply, StartResponse, respond
from bot.web.server import Router, WsgiApp
from tools.state import connect

READY_PATH, METRICS_PATH = "/readyz", "/metrics"
_BUSY_MS = 3000  # a long snapshot write holds the database; waiting this long is still "writable"
_ROUTE_SOURCES = {"/vulns/reports": "scanner"}  # uploads counted by answer; notifications count events

Check = tuple[bool, str]  # (passed, detail)


class StateProbe:
    """Writes one row to the state database on every probe: the only proof that it takes writes."""

    def __init__(self, db_path: Path) -> None:
        self._conn = connect(db_path)
        self._conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS serve_probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL)"
        )
        self._lock = threading.Lock()

    def __call__(self, now: datetime) -> Check:
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO serve_probe (id, at) VALUES (1, ?)", (now.isoformat(),)
                )
            except sqlite3.Error as exc:
                return False, f"cannot write the state database: {exc}"
        return True, "writable"

    def close(self) -> None:
        """Close the probe's connection."""
        with self._lock:
            self._conn.close()


class Readiness:
    """The /readyz checks; `connected` is None in HTTP mode (no connection to check)."""

    def __init__(
        self,
        runtime: App,
        *,
        connected: Callable[[], bool | None],
        max_age: timedelta | None,
    ) -> None:
        self._runtime = runtime
        self._connected = connected
        self._max_age = max_age
        self._probe = StateProbe(runtime.db_path)

    def checks(self) -> dict[str, Check]:
        """Every check, by name."""
        now = self._runtime.clock()
        return {"state_db": self._probe(now), "inventory": self._inventory(now), "slack": self._slack()}

    def _inventory(self, now: datetime) -> Check:
        if self._max_age is None:
            return True, "no crawl schedule or age limit configured"
        newest = self._runtime.snapshots.latest_taken_at()
        if newest is None:
            return False, "no snapshot yet (the first crawl has not finished)"
        age = now - newest
        minutes = f"{age.total_seconds() / 60:.0f} min old (limit {self._max_age.total_seconds() / 60:.0f})"
        return age <= self._max_age, f"newest snapshot {minutes}"

    def _slack(self) -> Check:
        connected = self._connected()
        if connected is None:
            return True, "HTTP mode"
        return connected, "Socket Mode connected" if connected else "Socket Mode disconnected"

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        checks = self.checks()
        failing = [name for name, (ok, _) in checks.items() if not ok]
        body: dict[str, Any] = {
            "ready": not failing,
            "failing": failing,
            "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
        }
        return respond(start_response, Reply(503 if failing else 200, body))

    def close(self) -> None:
        """Close the database probe."""
        self._probe.close()


def readiness_age_limit(runtime: App, *, crawls: bool, interval: timedelta | None) -> timedelta | None:
    """inventory.max_age_minutes, else three crawl intervals; None when nothing crawls on a schedule."""
    settings = runtime.settings.inventory
    if settings.max_age_minutes is not None:
        return timedelta(minutes=settings.max_age_minutes)
    if not crawls or interval is None:
        return None
    return 3 * interval


class CountingRouter:
    """Mounts on a Router, counting webhook answers by outcome (what `mount_vulns_endpoint` is given)."""

    def __init__(self, router: Router, metrics: Metrics) -> None:
        self._router = router
        self._metrics = metrics

    def mount(self, path: str, app: WsgiApp, **options: Any) -> None:
        """Mount `app` at `path`, its answers counted as webhook events of the path's source."""
        self._router.mount(
            path, _counted(app, _ROUTE_SOURCES.get(path, path.strip("/")), self._metrics), **options
        )


def _counted(app: WsgiApp, source: str, metrics: Metrics) -> WsgiApp:
    def counted(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            code = int(status.split(" ", 1)[0])
            outcome = (
                "stored"
                if code == 201
                else "duplicate"
                if code < 300
                else "refused"
                if code < 500
                else "error"
            )
            metrics.observe_webhook(source, outcome)
            return start_response(status, headers, *rest)

        return app(environ, start)

    return counted


def mount_observability(router: Router, runtime: App, readiness: Readiness) -> None:
    """Serve /readyz and /metrics on the router."""
    router.mount(READY_PATH, readiness)
    router.mount(METRICS_PATH, make_wsgi_app(runtime.metrics.registry))
