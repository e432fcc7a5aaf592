"""Where the local model's weights, llama-server binary and run files live: a cache outside the checkout."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import DemoError
from tools.units import format_bytes

# The version of the llama-cpp-python sdist whose vendored llama.cpp builds llama-server; the binary's
# cache directory is keyed by it, so a new pin builds anew instead of reusing a stale binary.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
MODEL_FILE_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
CACHE_ENV = "REGENT_MODEL_CACHE"

Progress = Callable[[str], None]


class ModelSetupError(DemoError):
    """The local model cannot be set up or started; the message says why and what to do."""


def print_progress(message: str) -> None:
    """Default progress sink: one line on stderr, flushed, so long steps show they are alive."""
    print(f"local-model: {message}", file=sys.stderr, flush=True)


def resolve_cache_dir(*, env: Mapping[str, str], home: Path) -> Path:
    """The cache root: $REGENT_MODEL_CACHE, else $XDG_CACHE_HOME/regent, else ~/.cache/regent."""
    # The caller passes the environment (only bot/config reads it); empty values count as unset.
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "regent"
    return home / ".cache" / "regent"


def cpu_key(cpuinfo: str) -> str:
    """8 hex digits naming the CPU's instruction-set flags in /proc/cpuinfo ("generic" without any)."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):  # x86, arm
            return hashlib.sha256(" ".join(sorted(value.split())).encode()).hexdigest()[:8]
    return "generic"


def host_cpu_key() -> str:
    """cpu_key of this machine."""
    try:
        return cpu_key(Path("/proc/cpuinfo").read_text())
    except OSError:
        return "generic"


@dataclass(frozen=True, slots=True)
class ModelCache:
    """The layout of one cache root; every path the runner reads or writes comes from here."""

    root: Path
    server_version: str = LLAMA_CPP_PYTHON_VERSION
    # llama-server is built with -march=native: a cache restored on another CPU (a CI runner of another
    # generation) must build anew, not die of SIGILL in the middle of a request.
    cpu: str = field(default_factory=host_cpu_key)

    @property
    def models_dir(self) -> Path:
        """Joined GGUF files."""
        return self.root / "models"

    @property
    def model_path(self) -> Path:
        """The joined, verified weights."""
        return self.models_dir / MODEL_FILE_NAME

    @property
    def model_stamp(self) -> Path:
        """Records size, mtime and sha256 of a verified model, so a later start skips re-hashing 1.1 GB."""
        return self.models_dir / f"{MODEL_FILE_NAME}.verified"

    @property
    def wheels_dir(self) -> Path:
        """Downloaded weight wheels; removed once the joined file is verified."""
        return self.root / "wheels"

    @property
    def server_dir(self) -> Path:
        """The built llama-server, keyed by the llama-cpp-python version it comes from and the CPU."""
        return self.root / f"llama-server-{self.server_version}-{self.cpu}"

    @property
    def server_binary(self) -> Path:
        """The llama-server executable."""
        return self.server_dir / "llama-server"

    @property
    def build_log(self) -> Path:
        """cmake's output from the last build, kept for a failed build's error message."""
        return self.server_dir / "build.log"

    @property
    def build_dir(self) -> Path:
        """Scratch space for the sdist and the cmake tree; removed after a successful build."""
        return self.root / "build" / self.server_dir.name

    @property
    def run_dir(self) -> Path:
        """PID file, URL file and server log of the detached server that `start` runs."""
        return self.root / "run"

    @property
    def pid_file(self) -> Path:
        """PID of the detached llama-server."""
        return self.run_dir / "llama-server.pid"

    @property
    def url_file(self) -> Path:
        """OpenAI base URL of the detached llama-server."""
        return self.run_dir / "llama-server.url"

    @property
    def server_log(self) -> Path:
        """Combined stdout/stderr of the detached llama-server."""
        return self.run_dir / "llama-server.log"

    @property
    def lock_file(self) -> Path:
        """Serialises setup between processes (two test workers, a CI step and a developer)."""
        return self.root / "setup.lock"


@contextmanager
def cache_lock(cache: ModelCache) -> Iterator[None]:
    """Hold an exclusive lock on the cache for the duration of a setup step."""
    cache.root.mkdir(parents=True, exist_ok=True)
    with cache.lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_free_space(directory: Path, *, needed: int, purpose: str) -> None:
    """Raise ModelSetupError when `directory`'s file system has less than `needed` bytes free."""
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise ModelSetupError(
            f"not enough disk space in {directory} for {purpose}: need ~{format_bytes(needed)}, "
            f"{format_bytes(free)} free. Free some space or point {CACHE_ENV} at a bigger disk."
        )
