"""Run the real `regent` CLI as a subprocess, the way an operator does, with a clean environment."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class ServedRegent:
    """A running `regent serve`: its base URL, and everything it wrote to stderr so far."""

    process: subprocess.Popen[str]
    base: str
    stderr: str


@contextmanager
def serving_regent(env: Mapping[str, str], *, home: Path) -> Iterator[ServedRegent]:
    """`regent serve` on a free loopback port with only PATH, HOME and `env`; SIGTERM must exit it with 0."""
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("regent")), "serve", "--host", "127.0.0.1", "--port", "0"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home), **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    served = ServedRegent(process, "", "")
    try:
        match = None
        while match is None:
            served.stderr += process.stderr.readline()
            match = re.search(r"health on (http://127\.0\.0\.1:\d+)/healthz", served.stderr)
            assert process.poll() is None, served.stderr
        served.base = match.group(1)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        served.stderr += process.stderr.read()
    assert code == 0, served.stderr
