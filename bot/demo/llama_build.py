"""Building llama-server once from the llama.cpp source vendored in a hash-pinned llama-cpp-python sdist."""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from contextlib import suppress
from pathlib import Path
from typing import IO

from bot.demo.model_cache import ModelCache, ModelSetupError, Progress, check_free_space

SOURCE_REQUIREMENTS = Path(__file__).with_name("llama-server-source.txt")
# Release build of the server alone. LLAMA_USE_PREBUILT_UI=OFF: the default downloads the web UI, and
# nothing but PyPI, apt and npm is reachable here. OPENSSL=OFF: the server only listens on loopback.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)
BUILD_JOBS = 2
BUILD_ESTIMATE = "~8 min on 2 cores"
# sdist (77 MB) + unpacked source (130 MB) + object files (90 MB): ~0.3 GB measured, doubled for margin.
BUILD_SPACE = 600_000_000
PROGRESS_EVERY = 30.0
_PERCENT = re.compile(rb"\[\s*(\d+)%\]")
APT_HINT = "apt-get install cmake g++"
# GGML_NATIVE turns on Intel AMX where the CPU flags it, and on these VMs (Sapphire Rapids guests) the
# first AMX instruction (ldtilecfg) segfaults while the model loads. GCC lets explicit -mno-* flags win
# over -march=native whatever their order, so the rest of the native ISA (AVX-512) stays.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def cmake_flags(*, machine: str) -> list[str]:
    """The configure flags for this CPU architecture (`platform.machine()`)."""
    if machine.lower() in ("x86_64", "amd64"):
        return [*CMAKE_FLAGS, f"-DCMAKE_C_FLAGS={NO_AMX}", f"-DCMAKE_CXX_FLAGS={NO_AMX}"]
    return list(CMAKE_FLAGS)


def server_works(binary: Path) -> bool:
    """Whether `binary` runs here: catches a half-written file or a cache built for another CPU."""
    if not binary.is_file():
        return False
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def require_build_tools() -> str:
    """The path of cmake, once cmake and a C++ compiler are known present; else ModelSetupError."""
    cmake = shutil.which("cmake")
    compiler = shutil.which("c++") or shutil.which("g++")
    missing = [name for name, path in (("cmake", cmake), ("a C++ compiler", compiler)) if path is None]
    if cmake is None or compiler is None:
        raise ModelSetupError(
            f"building llama-server needs {' and '.join(missing)}, which are not installed: {APT_HINT}"
        )
    return cmake


def ensure_llama_server(cache: ModelCache, *, progress: Progress) -> Path:
    """Return the cached llama-server, building it first (once per version) when it is missing."""
    if server_works(cache.server_binary):
        return cache.server_binary
    cmake = require_build_tools()
    check_free_space(cache.root, needed=BUILD_SPACE, purpose="building llama-server")
    shutil.rmtree(cache.build_dir, ignore_errors=True)
    cache.build_dir.mkdir(parents=True)
    cache.server_dir.mkdir(parents=True, exist_ok=True)
    source = fetch_source(cache.build_dir, progress=progress)
    tree = cache.build_dir / "cmake"
    version = cache.server_version
    progress(
        f"building llama-server {version} with -j{BUILD_JOBS} ({BUILD_ESTIMATE}); log: {cache.build_log}"
    )
    started = time.monotonic()
    with cache.build_log.open("wb") as log:
        configure = [cmake, "-S", str(source), "-B", str(tree), *cmake_flags(machine=platform.machine())]
        run_logged(configure, log=log, cache=cache)
        build = [cmake, "--build", str(tree), "--target", "llama-server", f"-j{BUILD_JOBS}"]
        run_logged(build, log=log, cache=cache, progress=progress, started=started)
    built = tree / "bin" / "llama-server"
    if not built.is_file():
        raise ModelSetupError(f"the build finished but {built} is missing; see {cache.build_log}")
    staged = cache.server_binary.with_name("llama-server.partial")
    shutil.copy2(built, staged)
    staged.replace(cache.server_binary)
    shutil.rmtree(cache.build_dir, ignore_errors=True)
    with suppress(OSError):  # the parent holds other versions' builds while they run
        cache.build_dir.parent.rmdir()
    progress(f"llama-server built in {time.monotonic() - started:.0f} s: {cache.server_binary}")
    return cache.server_binary


def fetch_source(build_dir: Path, *, progress: Progress) -> Path:
    """Download the pinned sdist with pip and unpack it; return its vendored llama.cpp directory."""
    progress(f"downloading the llama-cpp-python sdist (77 MB, hash-pinned in {SOURCE_REQUIREMENTS.name})")
    command = [
        *(sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--no-binary=:all:"),
        *("--progress-bar", "off", "--disable-pip-version-check", "-d", str(build_dir)),
        *("-r", str(SOURCE_REQUIREMENTS)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        raise ModelSetupError("pip download of the llama.cpp source failed:\n" + "\n".join(output[-15:]))
    archives = sorted(build_dir.glob("llama_cpp_python-*.tar.gz"))
    if len(archives) != 1:
        raise ModelSetupError(f"expected one llama_cpp_python sdist in {build_dir}, found {len(archives)}")
    with tarfile.open(archives[0]) as archive:
        # The "data" filter refuses absolute paths, links out of the tree and device files.
        archive.extractall(build_dir, filter="data")
    source = build_dir / archives[0].name.removesuffix(".tar.gz") / "vendor" / "llama.cpp"
    if not (source / "CMakeLists.txt").is_file():
        raise ModelSetupError(f"no vendor/llama.cpp in {archives[0].name}")
    return source


def run_logged(
    command: list[str],
    *,
    log: IO[bytes],
    cache: ModelCache,
    progress: Progress | None = None,
    started: float = 0.0,
) -> None:
    """Run a build step with output to the build log; with `progress`, report every ~30 s."""
    # Its own session, so an interrupted build stops make and every compiler it started, not cmake alone.
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while True:
            try:
                process.wait(timeout=PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                if progress is not None:
                    progress(build_status(cache.build_log, elapsed=time.monotonic() - started))
    except BaseException:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if process.returncode != 0:
        tail = cache.build_log.read_bytes()[-3000:].decode(errors="replace")
        raise ModelSetupError(
            f"{Path(command[0]).name} failed ({process.returncode}); {cache.build_log}:\n{tail}"
        )


def build_status(log: Path, *, elapsed: float) -> str:
    """One progress line: elapsed time, cmake's last percentage and the honest estimate."""
    try:
        tail = log.read_bytes()[-4000:]
    except FileNotFoundError:
        tail = b""
    percents = _PERCENT.findall(tail)
    done = f", {int(percents[-1])}% of targets" if percents else ""
    minutes, seconds = divmod(int(elapsed), 60)
    return f"  building llama-server: {minutes}m{seconds:02d}s elapsed{done} ({BUILD_ESTIMATE})"
