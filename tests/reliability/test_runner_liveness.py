"""A plan's runner is known dead only when it was a process on this host that no longer exists."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tools.state import new_runner_id, runner_is_gone


def test_runner_liveness() -> None:
    host = socket.gethostname()
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(child.stdout)
    assert runner_is_gone(f"{host}:{dead_pid}:0000abcd.00000001")
    assert not runner_is_gone(new_runner_id())  # this very process
    assert runner_is_gone(f"{host}:{os.getpid()}:0000abcd.00000001")  # our pid, an earlier process's token
    assert not runner_is_gone(f"{host}:1:0000abcd.00000001")  # alive (init), whoever it belongs to
    assert not runner_is_gone(f"other-host:{dead_pid}:0000abcd.00000001")  # another host: cannot tell
    assert not runner_is_gone("crashed") and not runner_is_gone(None)
