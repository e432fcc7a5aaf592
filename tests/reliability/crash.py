"""Crash test helpers: `regent` as a killable process, the state database's health, the audit chain."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from tests.cli import ROOT, run_regent

OLD_TAGS = ("1.0", "1.1", "1.2", "1.3", "1.4")
POLICIES = """
policies:
  - name: cleanup
    repositories: ["team-x/**"]
    keep:
      - most_recent: 1
    delete:
      - older_than_days: 90
"""


def seed_old_and_new(seeder: Seeder) -> dict[str, str]:
    """team-x/app: five old tags (the plan deletes them) and 2.0 (kept); returns tag -> digest."""
    now = dt.datetime.now(dt.UTC)
    out = {}
    for n, tag in enumerate((*OLD_TAGS, "2.0")):
        days = 1 if tag == "2.0" else 400 - n
        spec = ImageSpec(
            repository="team-x/app",
            tag=tag,
            created=now - dt.timedelta(days=days),
            base=ALPINE_3_19_1,
            extra_layer_seed=tag,
        )
        out[tag] = seeder.push_image(spec).digest
    return out


def spawn_regent(*args: str, state: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m bot.cli ARGS` in the background (output to files in the state dir), like run_regent."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PORTAINER_", "REGENT_", "SLACK_", "OPENAI_"))
    }
    clean |= {"REGENT_STATE_DIR": str(state), "COLUMNS": "300"} | dict(env or {})
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "stdout.txt", "ab") as out, open(state / "stderr.txt", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *args], stdout=out, stderr=err, env=clean, cwd=ROOT
        )


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no cleanup, no finally, no atexit; exactly a crash."""
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL


def integrity(db: Path) -> str:
    """PRAGMA integrity_check of the state database."""
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def assert_state_intact(state: Path) -> None:
    """The database is intact and `regent audit verify` accepts the audit chain."""
    assert integrity(state / "regent.db") == "ok"
    verified = run_regent("audit", "verify", state=state)
    assert verified.returncode == 0 and "hash chain verified" in verified.stdout, verified.stderr
