"""Events API de-duplication by `event_id`, persisted so a restart does not answer the same event twice.

Slack retries an event when it got no 2xx within 3 seconds (up to three times, `X-Slack-Retry-Num`), and
Bolt does not de-duplicate. The first delivery inserts the id; every later one finds it and is dropped.
"""

from __future__ import annotations

import sqlite3
import threading
import time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slack_events (
    event_id TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
"""
KEEP_SECONDS = 2 * 24 * 3600  # Slack's last retry comes ~5 minutes after the first delivery


class EventDeduper:
    """Remembers which event ids were already taken."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._inserted = 0

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def first_time(self, event_id: str) -> bool:
        """True exactly once per event id, across threads, processes and restarts."""
        with self._lock:
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO slack_events (event_id, seen_at) VALUES (?, ?)",
                (event_id, time.time()),
            ).rowcount
            self._inserted += 1
            if self._inserted % 1000 == 0:
                self._conn.execute(
                    "DELETE FROM slack_events WHERE seen_at < ?", (time.time() - KEEP_SECONDS,)
                )
        return inserted == 1
