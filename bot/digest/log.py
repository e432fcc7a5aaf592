"""Which digests were sent, in the SQLite state database: one scheduled digest per local day.

A scheduled run claims its day inside one `BEGIN IMMEDIATE` transaction: if the day already has a
digest being sent or sent, the claim fails and the run posts nothing. That holds across restarts and
across processes sharing the state file. A failed post is marked failed, which frees the day for a
retry; a crash mid-post leaves the claim in place, so at most one digest goes out per day. The last
sent digest's snapshot id is what "change since the previous digest" compares with; its headline is
kept for the Slack Home tab (a table of its own, so databases made before need no migration).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from tools.state import StateStore

SendKind = Literal["scheduled", "manual"]
SendStatus = Literal["sending", "sent", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digest_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    channel TEXT,
    ts TEXT,
    snapshot_id INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS digest_sends_day ON digest_sends(day, status);
CREATE TABLE IF NOT EXISTS digest_headlines (
    send_id INTEGER PRIMARY KEY REFERENCES digest_sends(id),
    headline TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DigestSend:
    """One attempt to send a digest."""

    id: int
    day: date
    kind: SendKind
    status: SendStatus
    started_at: datetime
    finished_at: datetime | None
    channel: str | None
    ts: str | None
    snapshot_id: int | None
    error: str | None
    headline: tuple[str, ...] = ()  # the headline figures as sent (empty for sends made before)


class DigestLog(StateStore):
    """Claims, records and looks up digest sends."""

    schema = _SCHEMA

    def claim(self, day: date, *, kind: SendKind, now: datetime) -> int | None:
        """Start a send for this day; a scheduled claim fails (None) if the day has a digest already."""
        with self._transaction() as db:
            if kind == "scheduled":
                taken = db.execute(
                    "SELECT 1 FROM digest_sends WHERE day = ? AND status IN ('sending', 'sent')",
                    (day.isoformat(),),
                ).fetchone()
                if taken:
                    return None
            cursor = db.execute(
                "INSERT INTO digest_sends (day, kind, status, started_at) VALUES (?, ?, 'sending', ?)",
                (day.isoformat(), kind, _iso(now)),
            )
            return int(cursor.lastrowid or 0)

    def mark_sent(
        self,
        send_id: int,
        *,
        channel: str,
        ts: str,
        snapshot_id: int | None,
        now: datetime,
        headline: Sequence[str] = (),
    ) -> None:
        """Record a digest that reached Slack, with its headline figures."""
        with self._transaction() as db:
            db.execute(
                "UPDATE digest_sends SET status = 'sent', finished_at = ?, channel = ?, ts = ?, "
                "snapshot_id = ? WHERE id = ?",
                (_iso(now), channel, ts, snapshot_id, send_id),
            )
            db.execute(
                "INSERT OR REPLACE INTO digest_headlines (send_id, headline) VALUES (?, ?)",
                (send_id, json.dumps(list(headline))),
            )

    def mark_failed(self, send_id: int, *, error: str, now: datetime) -> None:
        """Record a failed send; the day is free for another attempt."""
        with self._transaction() as db:
            db.execute(
                "UPDATE digest_sends SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                (_iso(now), error[:500], send_id),
            )

    def failures(self, day: date) -> int:
        """How many sends failed on this day."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM digest_sends WHERE day = ? AND status = 'failed'", (day.isoformat(),)
            ).fetchone()
        return int(row[0])

    def last_sent(self) -> DigestSend | None:
        """The most recent digest that reached Slack, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, day, kind, status, started_at, finished_at, channel, ts, snapshot_id, error, "
                "h.headline FROM digest_sends LEFT JOIN digest_headlines h ON h.send_id = id "
                "WHERE status = 'sent' ORDER BY finished_at DESC, id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        sid, day, kind, status, started, finished, channel, ts, snapshot_id, error, headline = row
        return DigestSend(
            id=sid,
            day=date.fromisoformat(day),
            kind=kind,
            status=status,
            started_at=datetime.fromisoformat(started),
            finished_at=datetime.fromisoformat(finished) if finished else None,
            channel=channel,
            ts=ts,
            snapshot_id=snapshot_id,
            error=error,
            headline=tuple(str(line) for line in json.loads(headline)) if headline else (),
        )


def _iso(moment: datetime) -> str:
    # Fixed-width UTC text so ORDER BY on the column orders like time.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
