"""Conversation memory per Slack thread (or `cli`), in the SQLite state database, bounded.

Only what people saw is kept: the user's question and the final answer, each cut to a few thousand
characters, at most `keep_turns` turns per conversation and nothing older than `ttl`. Tool calls and
tool results are not replayed into later questions: they are large, stale after the next crawl, and
carry registry text that must not gain weight by repetition.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversation_turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL,
    user TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_turns_by_conversation ON conversation_turns(conversation, id);
"""
MAX_QUESTION = 2000
MAX_ANSWER = 3000


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier question and its answer."""

    user: str
    question: str
    answer: str


class ConversationMemory:
    """Remembers the last turns of each conversation."""

    def __init__(self, db_path: Path, *, keep_turns: int = 10, ttl: timedelta = timedelta(days=30)) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._keep = keep_turns
        self._ttl = ttl

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def recent(self, conversation: str, *, turns: int) -> list[Turn]:
        """The last `turns` turns of a conversation, oldest first."""
        if turns <= 0:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT user, question, answer FROM conversation_turns WHERE conversation = ? "
                "ORDER BY id DESC LIMIT ?",
                (conversation, turns),
            ).fetchall()
        return [Turn(user, question, answer) for user, question, answer in reversed(rows)]

    def remember(self, conversation: str, *, user: str, question: str, answer: str, now: datetime) -> None:
        """Store one turn and drop what falls outside the bounds."""
        cutoff = (now - self._ttl).astimezone(UTC).isoformat()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO conversation_turns (conversation, user, question, answer, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        conversation,
                        user,
                        question[:MAX_QUESTION],
                        answer[:MAX_ANSWER],
                        now.astimezone(UTC).isoformat(),
                    ),
                )
                self._conn.execute(
                    "DELETE FROM conversation_turns WHERE conversation = ? AND id NOT IN "
                    "(SELECT id FROM conversation_turns WHERE conversation = ? ORDER BY id DESC LIMIT ?)",
                    (conversation, conversation, self._keep),
                )
                self._conn.execute("DELETE FROM conversation_turns WHERE at < ?", (cutoff,))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
