"""The state database: one SQLite file that every store shares (snapshots, plans, events, vulns, audit, ...).

Each store keeps one connection, used from several threads (serve's workers, the digest scheduler), so
every statement runs under the store's lock; writes run in `BEGIN IMMEDIATE` transactions, which also
serialize writers across processes.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel

from tools.errors import RegentError


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


class HashedRecord(Protocol):
    """An immutable record whose items hash covers its content (a Plan, an Action)."""

    items_hash: str
    created_at: datetime

    def verify_hash(self) -> bool: ...

    def model_dump_json(self) -> str: ...


R = TypeVar("R", bound=BaseModel)


class RunOnceStore(StateStore):
    """A store of immutable, hashed records that run at most once (plans, actions).

    Subclasses name their tables; the rows are `id, items_hash, status, runner, heartbeat_at,
    finished_at, ...` and the results rows `<key_column>, item_index, status, reason, at`.
    """

    table: ClassVar[str]
    results_table: ClassVar[str]
    key_column: ClassVar[str]
    what: ClassVar[str]

    def _store(self, row_id: str, record: HashedRecord, *, error: type[RegentError], **columns: str) -> str:
        """Store a hashed record once (same record again: no-op; other items under its id: `error`)."""
        if not record.verify_hash():
            raise error(f"{self.what} {row_id}: items do not match items_hash; refusing to store it")
        values = {
            "id": row_id,
            **columns,
            "created_at": record.created_at.isoformat(),
            "items_hash": record.items_hash,
            "body": record.model_dump_json(),
        }
        try:
            self._insert_once(row_id, record.items_hash, values)
        except ValueError as exc:
            raise error(str(exc)) from None
        return row_id

    def _load(self, row_id: str, model: type[R], *, error: type[RegentError], missing: str) -> R:
        """A stored record, checked against the stored hash and its own (tampering refuses to run)."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT items_hash, body FROM {self.table} WHERE id = ?", (row_id,)
            ).fetchone()
        if row is None:
            raise error(missing)
        record = model.model_validate_json(row[1])
        if record.items_hash != row[0] or not record.verify_hash():  # type: ignore[attr-defined]
            raise error(f"{self.what} {row_id} does not match its hash; it will not be run")
        return record

    def _insert_once(self, row_id: str, items_hash: str, values: dict[str, Any]) -> bool:
        """Insert a record once; False if it exists with the same hash, ValueError if with another."""
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        with self._transaction() as db:
            row = db.execute(f"SELECT items_hash FROM {self.table} WHERE id = ?", (row_id,)).fetchone()
            if row is not None:
                if row[0] != items_hash:
                    raise ValueError(f"{self.what} {row_id} is already stored with other items")
                return False
            db.execute(f"INSERT INTO {self.table} ({columns}) VALUES ({marks})", tuple(values.values()))
        return True

    def heartbeat(self, row_id: str, *, runner: str, now: datetime) -> bool:
        """Say this runner is still alive; False if the record is no longer ours."""
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE {self.table} SET heartbeat_at = ? "
                "WHERE id = ? AND runner = ? AND status = 'running'",
                (now.isoformat(), row_id, runner),
            )
            return cursor.rowcount == 1

    def finish(self, row_id: str, *, runner: str, now: datetime) -> None:
        """Mark the record done; it never runs again."""
        with self._transaction() as db:
            db.execute(
                f"UPDATE {self.table} SET status = 'done', finished_at = ? WHERE id = ? AND runner = ?",
                (now.isoformat(), row_id, runner),
            )

    def _record_result(self, row_id: str, index: int, status: str, reason: str, *, now: datetime) -> None:
        """Record one item's outcome; the first record wins, so a resumed run never rewrites history."""
        with self._transaction() as db:
            db.execute(
                f"INSERT OR IGNORE INTO {self.results_table} "
                f"({self.key_column}, item_index, status, reason, at) VALUES (?, ?, ?, ?, ?)",
                (row_id, index, status, reason, now.isoformat()),
            )


# -- who runs a claimed record: a run is taken over at once when its process is known to be gone --------


@cache
def _process_token() -> str:
    """Random per process: tells this process apart from an earlier one that had the same pid."""
    return secrets.token_hex(4)


def new_runner_id() -> str:
    """Identifies one run: host, process id, process token and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_token()}.{secrets.token_hex(4)}"


def runner_is_gone(runner: str | None) -> bool:
    """True only when `runner` was a process on this host that no longer runs; unknown means alive."""
    host, _, rest = (runner or "").partition(":")
    pid_text, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    if int(pid_text) == os.getpid():  # our pid: an earlier process of ours if its token is not ours
        return not token.startswith(f"{_process_token()}.")
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but is not ours to signal
        return False
    return False
