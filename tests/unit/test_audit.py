"""The audit log: append-only, hash-chained, verifiable, and never holding a credential."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.approvals.audit import GENESIS, REDACTED, AuditLog, entry_hash, is_secret_key, redact

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "state.db", clock=lambda: NOW)


def test_entries_chain_and_verify(log: AuditLog) -> None:
    first = log.append(
        actor="U123", kind="tool_call", payload={"tool": "search_images", "args": {"q": "shop"}}
    )
    second = log.append(actor="U123", kind="proposal", payload={"plan_id": "plan-1", "items": 3})
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert second.prev_hash == first.hash
    assert second.hash == entry_hash(
        seq=2, at=second.at, actor="U123", kind="proposal", payload=second.payload, prev_hash=first.hash
    )
    assert [e.kind for e in log.entries()] == ["tool_call", "proposal"]
    assert [e.seq for e in log.entries(since_seq=1)] == [2]
    assert log.entries(kind="proposal", limit=1) == [second]
    assert log.verify().model_dump() == {"ok": True, "checked": 2, "first_bad_seq": None, "reason": ""}


def test_secrets_never_go_in(log: AuditLog) -> None:
    entry = log.append(
        actor="bot",
        kind="tool_call",
        payload={
            "registry": {"url": "https://r.example.com", "password": "hunter2", "username": "ci"},
            "headers": [{"Authorization": "Basic Zm9vOmJhcg=="}, {"X-API-Key": "k"}],
            "apiKey": "abc",
            "access_token": "t",
            "note": "Bearer eyJhbGciOi",
            "slack": "xoxb-123-456",
            "prompt_tokens": 812,
            "tokens": 3,
        },
    )
    stored = log.entries()[0].payload
    assert stored == entry.payload
    assert stored["registry"] == {"url": "https://r.example.com", "password": REDACTED, "username": "ci"}
    assert stored["headers"] == [{"Authorization": REDACTED}, {"X-API-Key": REDACTED}]
    assert stored["apiKey"] == stored["access_token"] == stored["note"] == stored["slack"] == REDACTED
    assert stored["prompt_tokens"] == 812 and stored["tokens"] == 3, "counts named *_tokens are not secrets"
    assert "hunter2" not in str(log.entries())


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("PORTAINER_API_KEY", True),
        ("clientSecret", True),
        ("private_key", True),
        ("registry_auth", False),
        ("tokens_used", False),
        ("digest", False),
        ("passwd", True),
    ],
)
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_redact_makes_payloads_json_ready() -> None:
    assert redact({"when": NOW, "ids": {2, 1}, "t": (1, "a")}) == {
        "when": NOW.isoformat(),
        "ids": [1, 2],
        "t": [1, "a"],
    }


def test_the_database_refuses_updates_and_deletes(tmp_path: Path, log: AuditLog) -> None:
    log.append(actor="a", kind="decision", payload={"approved": True})
    conn = sqlite3.connect(tmp_path / "state.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log")


def _tamper(db: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(db)
    conn.executescript("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
    conn.execute(sql, params)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("sql", "bad", "reason"),
    [
        ("UPDATE audit_log SET payload = '{\"approved\":false}' WHERE seq = 2", 2, "does not match its hash"),
        ("DELETE FROM audit_log WHERE seq = 2", 3, "entry 2 is missing"),
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", 3, "does not match its hash"),
    ],
)
def test_verify_finds_the_first_broken_link(
    tmp_path: Path, log: AuditLog, sql: str, bad: int, reason: str
) -> None:
    for i in range(4):
        log.append(actor="a", kind="decision", payload={"approved": True, "i": i})
    _tamper(tmp_path / "state.db", sql)
    result = log.verify()
    assert not result.ok and result.first_bad_seq == bad and reason in result.reason


def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path, log: AuditLog) -> None:
    entries = [log.append(actor="a", kind="decision", payload={"i": i}) for i in range(3)]
    forged = entry_hash(
        seq=2, at=entries[1].at, actor="mallory", kind="decision", payload={"i": 1}, prev_hash=entries[0].hash
    )
    _tamper(tmp_path / "state.db", "UPDATE audit_log SET actor = 'mallory', hash = ? WHERE seq = 2", forged)
    result = log.verify()
    assert result.first_bad_seq == 3 and "prev_hash" in result.reason


def _append_many(db: str, n: int) -> int:
    audit = AuditLog(db)
    for i in range(n):
        audit.append(actor="proc", kind="tool_call", payload={"i": i})
    return n


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    shared = AuditLog(db)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: shared.append(actor="t", kind="tool_call", payload={"i": i}), range(40)))
    with ProcessPoolExecutor(max_workers=3) as pool:
        list(pool.map(_append_many, [db] * 3, [20] * 3))
    result = shared.verify()
    assert result.ok and result.checked == 100
