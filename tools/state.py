"""The state database: one SQLite file that every store shares (snapshots, plans, events, vulns, audit, ...).

Each store keeps one connection, used from several threads (serve's workers, the digest scheduler), so
every statement runs under the store's lock; writes run in `BEGIN IMMEDIATE` transactions, which also
serialize writers across processes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar


def connect(db_path: Path | str) -> sqlite3.Connection:
    """Open the state database with the settings every Regent module relies on."""
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class StateStore:
    """Base of the stores in the state database: one connection, its schema, locked statements."""

    schema: ClassVar[str] = ""

    def __init__(self, db_path: Path | str) -> None:
        self._conn = connect(db_path)
        self._lock = threading.RLock()
        if self.schema:
            with self._lock:
                self._conn.executescript(self.schema)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, query: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a read-only query."""
        with self._lock:
            return self._conn.execute(query, args).fetchall()

    def _row(self, query: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a read-only query, if any."""
        with self._lock:
            row: tuple[Any, ...] | None = self._conn.execute(query, args).fetchone()
            return row
