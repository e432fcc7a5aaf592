"""Invariant 4 across the suite: no secret the tests use may reach the LLM, Slack, logs or the audit log.

Every test's fakes and state are scanned after it runs: the bodies of every request the fake LLM got, the
arguments of every call the fake Slack Web API got (the bot token in its Authorization header is the one
place a token belongs), the audit log of every state database under the test's tmp_path, and every
`regent.log` there. The patterns are the shapes of the secrets the suite plants: registry passwords,
Portainer API keys, Slack tokens and LLM keys.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SECRET_PATTERNS = re.compile(
    r"s3cret"  # registry passwords in the fixtures
    r"|(?<![A-Za-z0-9])ptr_[A-Za-z0-9_-]{6,}"  # Portainer API keys
    r"|(?<![A-Za-z0-9])xox[abp]-[A-Za-z0-9-]{4,}"  # Slack bot/user tokens
    r"|(?<![A-Za-z0-9])xapp-[A-Za-z0-9-]{4,}"  # Slack app-level tokens
    r"|(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{4,}"  # LLM keys
    r"|CANARY[-_][A-Za-z0-9_-]+",  # canaries planted by the secrets tests
    re.IGNORECASE,
)


def find_secrets(text: str) -> list[str]:
    """The distinct secret-shaped strings in `text`."""
    return sorted({m.group(0) for m in SECRET_PATTERNS.finditer(text)})


def llm_leaks(requests: Iterable[dict[str, Any]]) -> list[str]:
    """Secrets in request bodies sent to the LLM."""
    return find_secrets(json.dumps(list(requests), default=str))


def slack_leaks(calls: Iterable[Any]) -> list[str]:
    """Secrets in the arguments of Slack Web API calls (not in their Authorization header)."""
    return find_secrets(json.dumps([call.args for call in calls], default=str))


def state_leaks(root: Path) -> list[str]:
    """Secrets in audit logs and regent.log files anywhere under `root`."""
    found: set[str] = set()
    for text in _state_texts(root):
        found.update(find_secrets(text))
    return sorted(found)


def _state_texts(root: Path) -> Iterator[str]:
    for log in root.rglob("regent.log"):
        yield log.read_text(errors="replace")
    for db in root.rglob("*.db"):
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            continue
        try:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "audit_log" in tables:
                for actor, payload in conn.execute("SELECT actor, payload FROM audit_log"):
                    yield f"{actor} {payload}"
        except sqlite3.Error:
            continue
        finally:
            conn.close()
