"""Append-only, hash-chained audit log in the SQLite state database (design invariant 5).

Each entry is (seq, at, actor, kind, payload, prev_hash, hash) with
hash = sha256(canonical JSON of {seq, at, actor, kind, payload, prev_hash}); the first entry's prev_hash
is 64 zeros. SQLite triggers refuse UPDATE and DELETE, and `verify()` finds the first broken link if
the file is edited behind our back. Callers pass only safe data; payloads are still redacted
defensively (keys such as password, token, api_key, secret; values that look like credentials).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.state import StateStore

GENESIS = "0" * 64
REDACTED = "[redacted]"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# Words of a key name (snake, kebab, camel case) that mark its value as a credential.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "apikey",
        "authorization",
        "credential",
        "credentials",
        "cookie",
        "passphrase",
        "privatekey",
        "jwt",
        "bearer",
    }
)
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key")})
_SECRET_VALUE = re.compile(
    r"(?i)^(bearer|basic)\s+\S+|^xox[abposr]-|^xapp-|^sk-[A-Za-z0-9_-]{16,}|^ptr_[A-Za-z0-9+/=]{16,}"
)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


class AuditEntry(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: str
    actor: str
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class VerifyResult(BaseModel):
    """Outcome of checking the chain: ok, how many entries, and the first broken one if any."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


def is_secret_key(key: str) -> bool:
    """True when a key name says its value is a credential (password, access_token, apiKey, ...)."""
    words = [w.lower() for w in _WORD.findall(key)]
    if any(w in _SECRET_WORDS for w in words) or "".join(words) in _SECRET_WORDS:
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def redact(value: Any) -> Any:
    """A JSON-ready copy with credential-named keys and credential-looking strings replaced."""
    if isinstance(value, BaseModel):
        return redact(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): REDACTED if is_secret_key(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [redact(v) for v in items]
    if isinstance(value, str):
        return REDACTED if _SECRET_VALUE.match(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return redact(value.value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, no NaN: equal data always hashes equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(*, seq: int, at: str, actor: str, kind: str, payload: Any, prev_hash: str) -> str:
    """sha256 hex over the canonical JSON of an entry without its own hash."""
    body = {"seq": seq, "at": at, "actor": actor, "kind": kind, "payload": payload, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditLog(StateStore):
    """The audit log of one state database."""

    schema = _SCHEMA

    def __init__(self, db_path: Path | str, *, clock: Callable[[], datetime] = _utcnow) -> None:
        super().__init__(db_path)
        self._clock = clock
        self._observers: list[Callable[[AuditEntry], None]] = []

    def observe(self, observer: Callable[[AuditEntry], None]) -> None:
        """Call `observer` with every entry once it is written (metrics); its failures are only logged."""
        self._observers.append(observer)

    def append(self, *, actor: str, kind: str, payload: Mapping[str, Any]) -> AuditEntry:
        """Add an entry at the end of the chain (payload redacted) and return it."""
        if not re.fullmatch(r"[a-z][a-z_]{0,39}", kind):
            raise ValueError(f"audit kind {kind!r}: use a short snake_case word such as tool_call")
        clean = redact(dict(payload))
        at = self._clock().astimezone(UTC).isoformat()
        with self._transaction() as db:
            last = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            digest = entry_hash(seq=seq, at=at, actor=actor, kind=kind, payload=clean, prev_hash=prev)
            db.execute(
                "INSERT INTO audit_log (seq, at, actor, kind, payload, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, at, actor, kind, canonical_json(clean), prev, digest),
            )
        entry = AuditEntry(seq=seq, at=at, actor=actor, kind=kind, payload=clean, prev_hash=prev, hash=digest)
        for observer in self._observers:
            try:
                observer(entry)
            except Exception:  # the entry is written; a broken observer must not fail the audited action
                logging.getLogger(__name__).exception("audit observer failed on %s", kind)
        return entry

    def entries(
        self, *, since_seq: int = 0, kind: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Entries after since_seq in order, optionally of one kind, at most limit of them."""
        query = "SELECT seq, at, actor, kind, payload, prev_hash, hash FROM audit_log WHERE seq > ?"
        params: list[Any] = [since_seq]
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        query += " ORDER BY seq" + (" LIMIT ?" if limit is not None else "")
        if limit is not None:
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(query, params).fetchall()
        return [_entry(row) for row in rows]

    def verify(self) -> VerifyResult:
        """Walk the whole chain; report the first entry whose link or hash is wrong."""
        expected_seq, prev, checked = 1, GENESIS, 0
        with self._lock:
            cursor = self._conn.execute(
                "SELECT seq, at, actor, kind, payload, prev_hash, hash FROM audit_log ORDER BY seq"
            )
            for row in cursor:
                problem = _check_row(row, expected_seq, prev)
                if problem is not None:
                    return VerifyResult(ok=False, checked=checked, first_bad_seq=row[0], reason=problem)
                expected_seq, prev, checked = row[0] + 1, row[6], checked + 1
        return VerifyResult(ok=True, checked=checked)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, at, actor, kind, payload, prev_hash, digest = row
    return AuditEntry(
        seq=seq, at=at, actor=actor, kind=kind, payload=json.loads(payload), prev_hash=prev_hash, hash=digest
    )


def _check_row(row: tuple[Any, ...], expected_seq: int, prev: str) -> str | None:
    seq, at, actor, kind, payload, prev_hash, digest = row
    if seq != expected_seq:
        return f"entry {expected_seq} is missing (next is {seq})"
    if prev_hash != prev:
        return f"entry {seq}: prev_hash does not match the hash of entry {seq - 1}"
    try:
        parsed = json.loads(payload)
    except ValueError:
        return f"entry {seq}: payload is not JSON"
    if entry_hash(seq=seq, at=at, actor=actor, kind=kind, payload=parsed, prev_hash=prev_hash) != digest:
        return f"entry {seq}: content does not match its hash (edited after it was written)"
    return None
