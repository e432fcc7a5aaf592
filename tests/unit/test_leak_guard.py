"""The suite-wide secret scan must actually find secrets (and not flag ordinary words)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.leak_guard import find_secrets, llm_leaks, state_leaks


def test_finds_each_kind_of_planted_secret() -> None:
    text = "alice:s3cret ptr_abcdef123 xoxb-123-abc xapp-1-A0 sk-test-key CANARY_portainer"
    assert find_secrets(text) == sorted(
        ["s3cret", "ptr_abcdef123", "xoxb-123-abc", "xapp-1-A0", "sk-test-key", "CANARY_portainer"]
    )


def test_ordinary_words_are_not_secrets() -> None:
    assert find_secrets("disk-usage task-runner risk-score ask-me desk-top") == []


def test_llm_request_bodies_are_scanned() -> None:
    bodies = [{"messages": [{"role": "tool", "content": '{"password": "s3cret"}'}]}]
    assert llm_leaks(bodies) == ["s3cret"]


@pytest.mark.plants_secrets
def test_audit_logs_and_regent_log_are_scanned(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "regent.db")
    conn.execute("CREATE TABLE audit_log (actor TEXT, payload TEXT)")
    conn.execute("INSERT INTO audit_log VALUES (?, ?)", ("cli:root", '{"key": "ptr_leaked0001"}'))
    conn.commit()
    conn.close()
    (state / "regent.log").write_text("error talking to slack with xoxb-999-leak")
    assert state_leaks(tmp_path) == ["ptr_leaked0001", "xoxb-999-leak"]
