"""Registry events in the SQLite state database (tables prefixed `event_`).

Writes are idempotent by event id (`INSERT OR IGNORE`) and all-or-nothing per posted body, so replays,
retries and concurrent posts of the same events change nothing. One lock serialises use of the shared
connection: the receiver runs on many threads, and SQLite serialises writers anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from tools.events.models import EventAction, IngestResult, RegistryEvent
from tools.state import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_events (
    id TEXT PRIMARY KEY,
    format TEXT NOT NULL,
    registry TEXT NOT NULL,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    tag TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    actor TEXT NOT NULL,
    addr TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    at TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_events_repo ON event_events (registry, repository, action, at);
CREATE INDEX IF NOT EXISTS event_events_digest ON event_events (registry, digest, action);
CREATE INDEX IF NOT EXISTS event_events_at ON event_events (at);
CREATE INDEX IF NOT EXISTS event_events_received ON event_events (received_at);
CREATE TABLE IF NOT EXISTS event_push_checks (
    event_id TEXT PRIMARY KEY,
    checked_at TEXT NOT NULL,
    anomalous INTEGER NOT NULL,
    report TEXT NOT NULL,
    alerted_at TEXT
);
CREATE TABLE IF NOT EXISTS event_auth_logs (
    source TEXT NOT NULL,
    id INTEGER NOT NULL,
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    origin TEXT NOT NULL,
    context INTEGER NOT NULL,
    type INTEGER NOT NULL,
    PRIMARY KEY (source, id)
);
CREATE TABLE IF NOT EXISTS event_alerts (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    posted_at TEXT NOT NULL
);
"""

_COLUMNS = (
    "id, format, registry, action, kind, repository, digest, tag, media_type, size, actor, addr,"
    " user_agent, at"
)


def iso(moment: datetime) -> str:
    """A UTC timestamp whose text order is its time order (fixed width, microseconds)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


class EventStore(StateStore):
    """Stores and queries registry events, push checks, Portainer auth logs and sent alerts."""

    schema = _SCHEMA

    def _rows(self, query: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(query, args).fetchall()

    # --- events -------------------------------------------------------------------------------------

    def add(self, events: Sequence[RegistryEvent], *, ignored: int = 0, now: datetime) -> IngestResult:
        """Store the events of one body atomically; events whose id is already stored are skipped."""
        received = iso(now)
        stored: list[str] = []
        with self._transaction() as db:
            for event in events:
                cursor = db.execute(
                    f"INSERT OR IGNORE INTO event_events ({_COLUMNS}, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*_row(event), received),
                )
                if cursor.rowcount == 1:
                    stored.append(event.id)
        return IngestResult(
            received=len(events) + ignored,
            stored=len(stored),
            duplicates=len(events) - len(stored),
            ignored=ignored,
            event_ids=stored,
        )

    def get(self, event_id: str) -> RegistryEvent | None:
        """One stored event by id."""
        rows = self._rows(f"SELECT {_COLUMNS} FROM event_events WHERE id = ?", (event_id,))
        return _event(rows[0]) if rows else None

    def count(self) -> int:
        """Number of stored events."""
        return int(self._rows("SELECT COUNT(*) FROM event_events")[0][0])

    def events(
        self,
        *,
        registry: str | None = None,
        repository: str | None = None,
        actions: Iterable[EventAction] | None = None,
        kind: str | None = "manifest",
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[RegistryEvent]:
        """Stored events matching every given filter, oldest first (newest `limit` when limited)."""
        where, args = _filters(
            registry=registry, repository=repository, actions=actions, kind=kind, since=since, until=until
        )
        query = f"SELECT {_COLUMNS} FROM event_events{where} ORDER BY at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        return [_event(row) for row in reversed(self._rows(query, args))]

    def previous_push(self, event: RegistryEvent) -> RegistryEvent | None:
        """The latest tagged manifest push to the same repository before `event`, of another digest."""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM event_events WHERE registry = ? AND repository = ? AND action = 'push'"
            " AND kind = 'manifest' AND tag != '' AND digest != ? AND tag NOT LIKE 'sha256-%'"
            " AND (at < ? OR (at = ? AND id < ?)) ORDER BY at DESC, id DESC LIMIT 1",
            (event.registry, event.repository, event.digest, iso(event.at), iso(event.at), event.id),
        )
        return _event(rows[0]) if rows else None

    def pull_groups(
        self, *, registry: str | None, repository: str | None = None, since: datetime | None = None
    ) -> list[tuple[str, str, str, str, str, str, int, datetime, datetime]]:
        """Manifest pulls grouped by (registry, repository, digest, tag, actor, user agent).

        Each row: registry, repository, digest, tag, actor, user_agent, count, first, last. Grouping in
        SQL keeps this cheap; exclusions (globs) are applied by the caller.
        """
        where, args = _filters(
            registry=registry, repository=repository, actions=("pull",), kind="manifest", since=since
        )
        rows = self._rows(
            "SELECT registry, repository, digest, tag, actor, user_agent, COUNT(*), MIN(at), MAX(at)"
            f" FROM event_events{where} GROUP BY registry, repository, digest, tag, actor, user_agent",
            args,
        )
        return [(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), _time(r[7]), _time(r[8])) for r in rows]

    def activity(
        self, *, since: datetime, until: datetime, registry: str | None = None
    ) -> list[tuple[str, str, str, str, str, str, int, datetime, datetime]]:
        """Manifest pushes one by one and pulls grouped, for anomaly detection over long baselines.

        Each row: registry, action, repository, actor, user_agent, addr, count, first, last.
        """
        where, args = _filters(
            registry=registry, repository=None, actions=None, kind="manifest", since=since, until=until
        )
        pushes = self._rows(
            "SELECT registry, action, repository, actor, user_agent, addr, 1, at, at"
            f" FROM event_events{where} AND action = 'push' ORDER BY at",
            args,
        )
        pulls = self._rows(
            "SELECT registry, action, repository, actor, user_agent, addr, COUNT(*), MIN(at), MAX(at)"
            f" FROM event_events{where} AND action = 'pull'"
            " GROUP BY registry, repository, actor, user_agent, addr",
            args,
        )
        return [(*r[:6], int(r[6]), _time(r[7]), _time(r[8])) for r in [*pushes, *pulls]]

    def push_times(self, *, registry: str) -> dict[str, datetime]:
        """The latest manifest push time of every digest pushed to a registry."""
        rows = self._rows(
            "SELECT digest, MAX(at) FROM event_events WHERE registry = ? AND action = 'push'"
            " AND kind = 'manifest' AND digest != '' GROUP BY digest",
            (registry,),
        )
        return {digest: _time(at) for digest, at in rows}

    def changed_repositories(self, *, since: datetime) -> dict[str, set[str]]:
        """Registry host -> repositories with a manifest push or delete received at or after `since`.

        By arrival (Regent's own clock), not by the registry's timestamp: a crawl started at `since` may
        have missed whatever arrives after it, and the registries' clocks may be off.
        """
        rows = self._rows(
            "SELECT DISTINCT registry, repository FROM event_events WHERE received_at >= ?"
            " AND kind = 'manifest' AND action IN ('push', 'delete')",
            (iso(since),),
        )
        changed: dict[str, set[str]] = {}
        for registry, repository in rows:
            changed.setdefault(registry, set()).add(repository)
        return changed

    def registries(self) -> list[str]:
        """Registry hosts that sent events."""
        return [row[0] for row in self._rows("SELECT DISTINCT registry FROM event_events ORDER BY 1")]

    # --- push checks and alerts ---------------------------------------------------------------------

    def record_push_check(
        self, event_id: str, *, anomalous: bool, report: dict[str, Any], now: datetime
    ) -> bool:
        """Remember that a push was analysed; False when it already was (analyse and alert once)."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO event_push_checks VALUES (?, ?, ?, ?, NULL)",
                (event_id, iso(now), int(anomalous), json.dumps(report, default=str)),
            )
        return cursor.rowcount == 1

    def push_checked(self, event_id: str) -> bool:
        """Whether a push event was analysed already."""
        return bool(self._rows("SELECT 1 FROM event_push_checks WHERE event_id = ?", (event_id,)))

    def mark_push_alerted(self, event_id: str, *, now: datetime) -> None:
        """Record that the alert for a push was posted."""
        with self._transaction() as db:
            db.execute("UPDATE event_push_checks SET alerted_at = ? WHERE event_id = ?", (iso(now), event_id))

    def push_reports(
        self, *, since: datetime | None = None, anomalous_only: bool = True
    ) -> list[dict[str, Any]]:
        """Stored push analyses (newest first), as the JSON they were recorded with."""
        query = "SELECT report FROM event_push_checks WHERE 1 = 1"
        args: list[Any] = []
        if anomalous_only:
            query += " AND anomalous = 1"
        if since is not None:
            query += " AND checked_at >= ?"
            args.append(iso(since))
        rows = self._rows(query + " ORDER BY checked_at DESC", args)
        return [json.loads(row[0]) for row in rows]

    def claim_alert(self, key: str, *, kind: str, now: datetime) -> bool:
        """True exactly once per key: whoever claims first posts the alert."""
        with self._transaction() as db:
            cursor = db.execute("INSERT OR IGNORE INTO event_alerts VALUES (?, ?, ?)", (key, kind, iso(now)))
        return cursor.rowcount == 1

    def release_alert(self, key: str) -> None:
        """Forget a claimed alert (posting failed; let the next run try again)."""
        with self._transaction() as db:
            db.execute("DELETE FROM event_alerts WHERE key = ?", (key,))

    # --- Portainer auth logs ------------------------------------------------------------------------

    def add_auth_logs(self, source: str, entries: Iterable[tuple[int, datetime, str, str, int, int]]) -> int:
        """Keep Portainer auth log entries (id, at, username, origin, context, type); returns new ones."""
        added = 0
        with self._transaction() as db:
            for entry_id, at, username, origin, context, kind in entries:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO event_auth_logs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (source, entry_id, iso(at), username, origin, context, kind),
                )
                added += cursor.rowcount
        return added

    def auth_logs(self, *, since: datetime | None = None) -> list[tuple[str, datetime, str, str, int]]:
        """Kept auth log entries, oldest first: (source, at, username, origin, type)."""
        query = "SELECT source, at, username, origin, type FROM event_auth_logs"
        args: list[Any] = []
        if since is not None:
            query += " WHERE at >= ?"
            args.append(iso(since))
        rows = self._rows(query + " ORDER BY at, id", args)
        return [(r[0], _time(r[1]), r[2], r[3], int(r[4])) for r in rows]

    def has_auth_logs(self) -> bool:
        """Whether any auth log was ever copied (else failed-login checks are unavailable, not clean)."""
        return bool(self._rows("SELECT 1 FROM event_auth_logs LIMIT 1"))

    def latest_auth_log(self, source: str) -> datetime | None:
        """Time of the newest kept auth log entry of a source (to fetch only what is newer)."""
        rows = self._rows("SELECT MAX(at) FROM event_auth_logs WHERE source = ?", (source,))
        return _time(rows[0][0]) if rows and rows[0][0] else None


def _filters(
    *,
    registry: str | None,
    repository: str | None,
    actions: Iterable[str] | None,
    kind: str | None,
    since: datetime | None,
    until: datetime | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("registry", registry), ("repository", repository), ("kind", kind)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if actions is not None:
        wanted = list(actions)
        clauses.append(f"action IN ({', '.join('?' for _ in wanted)})")
        args.extend(wanted)
    if since is not None:
        clauses.append("at >= ?")
        args.append(iso(since))
    if until is not None:
        clauses.append("at < ?")
        args.append(iso(until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _row(event: RegistryEvent) -> tuple[Any, ...]:
    return (
        event.id,
        event.format,
        event.registry,
        event.action,
        event.kind,
        event.repository,
        event.digest,
        event.tag,
        event.media_type,
        event.size,
        event.actor,
        event.addr,
        event.user_agent,
        iso(event.at),
    )


def _event(row: Sequence[Any]) -> RegistryEvent:
    names = [name.strip() for name in _COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    values["at"] = _time(values["at"])
    return RegistryEvent.model_validate(values)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
