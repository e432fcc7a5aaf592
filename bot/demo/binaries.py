"""Locating, and stopping, the real binaries (docker-registry, dockerd, htpasswd) the sandbox starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from bot.errors import MissingBinary

# Debian puts dockerd and runc in /usr/sbin, which a non-root PATH often lacks.
_EXTRA_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def find_binary(name: str) -> str | None:
    """Return the absolute path of an executable, looking in PATH and the sbin directories."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _EXTRA_DIRS:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_binary(name: str, apt_package: str) -> str:
    """Return the absolute path of an executable or raise MissingBinary naming its apt package."""
    found = find_binary(name)
    if found is None:
        raise MissingBinary(name, apt_package)
    return found


def terminate(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM a child process by PID, wait up to `timeout` seconds, then SIGKILL it."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def tail_of(path: Path, *, lines: int) -> str:
    """The last lines of a log file ("" before it exists), for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
