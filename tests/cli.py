"""Run the real `regent` CLI as a subprocess, the way an operator does, with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Variables of a developer's own shell that must never leak into a test's regent process.
_OWN_PREFIXES = ("PORTAINER_", "REGENT_", "SLACK_", "OPENAI_")


def run_regent(
    *args: str,
    state: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot.cli ARGS` with its own state directory; `env` adds variables on top."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    clean |= {"REGENT_STATE_DIR": str(state), "COLUMNS": "300"} | dict(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
