"""The local model runner's pure parts: cache layout, building llama-server, starting and stopping, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo import llama_build, local_model, model_cache
from bot.demo.local_model import (
    CHAT_TEMPLATE,
    LocalModel,
    ModelNotReady,
    find_local_model,
    read_pid,
    server_command,
    status_lines,
    terminate_pid,
)
from bot.demo.model_cache import (
    ModelCache,
    ModelSetupError,
    check_free_space,
    resolve_cache_dir,
)
from bot.demo.model_weights import MODEL_SHA256

# -- cache layout ----------------------------------------------------------------------------------


def test_cache_dir_prefers_regent_variable_then_xdg_then_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"REGENT_MODEL_CACHE": "/srv/models", "XDG_CACHE_HOME": "/xdg"}
    assert resolve_cache_dir(env=env, home=home) == Path("/srv/models")
    assert resolve_cache_dir(env={"XDG_CACHE_HOME": "/xdg"}, home=home) == Path("/xdg/regent")
    assert resolve_cache_dir(env={"REGENT_MODEL_CACHE": "", "XDG_CACHE_HOME": ""}, home=home) == (
        home / ".cache" / "regent"
    )


def test_layout_keys_the_server_by_version_and_cpu_and_stays_under_the_root(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path, cpu="0123abcd")
    assert cache.server_binary == tmp_path / "llama-server-0.3.36-0123abcd" / "llama-server"
    assert cache.build_dir == tmp_path / "build" / "llama-server-0.3.36-0123abcd"
    assert ModelCache(tmp_path, server_version="9.9.9", cpu="c").server_dir.name == "llama-server-9.9.9-c"
    assert cache.model_path == tmp_path / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    paths = [
        getattr(cache, name) for name in dir(ModelCache) if isinstance(getattr(ModelCache, name), property)
    ]
    assert all(path.is_relative_to(tmp_path) for path in paths)


def test_the_cpu_key_follows_the_instruction_set_flags_only() -> None:
    sapphire = "processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 avx512f amx_tile\n"
    same_flags = "processor\t: 1\nmodel name\t: Xeon, other stepping\nflags\t\t: amx_tile avx2 fpu avx512f\n"
    older = "processor\t: 0\nflags\t\t: fpu avx2\n"
    assert model_cache.cpu_key(sapphire) == model_cache.cpu_key(same_flags)
    assert model_cache.cpu_key(sapphire) != model_cache.cpu_key(older)
    assert len(model_cache.cpu_key(older)) == 8
    assert model_cache.cpu_key("Features\t: fp asimd\n") != "generic"  # arm64
    assert model_cache.cpu_key("") == "generic"


def test_too_little_disk_space_says_how_much_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelSetupError) as caught:
        check_free_space(tmp_path, needed=10**18, purpose="the model download and join")
    message = str(caught.value)
    assert "not enough disk space" in message
    assert "the model download and join" in message
    assert "REGENT_MODEL_CACHE" in message


# -- building --------------------------------------------------------------------------------------


def test_missing_build_tools_name_the_apt_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(
        ModelSetupError, match=r"needs cmake and a C\+\+ compiler.*apt-get install cmake g\+\+"
    ):
        llama_build.require_build_tools()


def test_build_flags_never_download_the_web_ui_and_leave_amx_out_on_x86() -> None:
    x86 = llama_build.cmake_flags(machine="x86_64")
    assert "-DLLAMA_USE_PREBUILT_UI=OFF" in x86
    assert "-DGGML_NATIVE=ON" in x86
    assert "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" in x86
    assert "-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" in x86
    # gcc on arm64 knows no -mno-amx-* flags and would fail every compile.
    assert llama_build.cmake_flags(machine="aarch64") == list(llama_build.CMAKE_FLAGS)


def test_build_progress_shows_elapsed_percentage_and_estimate(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_bytes(b"[  9%] Building C object a.o\n[ 42%] Building CXX object b.o\n")
    line = llama_build.build_status(log, elapsed=185)
    assert line == "  building llama-server: 3m05s elapsed, 42% of targets (~8 min on 2 cores)"
    assert llama_build.build_status(tmp_path / "none.log", elapsed=5).endswith(
        "0m05s elapsed (~8 min on 2 cores)"
    )


def test_a_missing_or_broken_binary_does_not_count_as_built(tmp_path: Path) -> None:
    assert not llama_build.server_works(tmp_path / "llama-server")
    broken = tmp_path / "llama-server"
    broken.write_text("#!/bin/sh\nexit 132\n")  # what a binary built for another CPU does: SIGILL
    broken.chmod(0o755)
    assert not llama_build.server_works(broken)


# -- running ---------------------------------------------------------------------------------------


def test_server_command_is_loopback_two_threads_and_the_tool_template(tmp_path: Path) -> None:
    local = LocalModel(binary=tmp_path / "llama-server", model=tmp_path / "m.gguf")
    command = server_command(local, port=8123)
    assert command[:5] == [str(tmp_path / "llama-server"), "-m", str(tmp_path / "m.gguf"), "-c", "16384"]
    assert command[command.index("-t") + 1] == "2"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8123"
    # A custom template file is accepted only when jinja is on: the flag comes first.
    assert command.index("--jinja") < command.index("--chat-template-file")
    assert command[-1] == str(CHAT_TEMPLATE)


def test_the_template_renders_tool_calls_as_fenced_json() -> None:
    text = CHAT_TEMPLATE.read_text()
    assert "'```json\\n{\"name\": ' + (tool_call.name | tojson)" in text
    # Strings verbatim, objects through tojson: never a JSON string inside the JSON.
    assert "tool_call.arguments is string" in text


def test_an_empty_cache_is_not_ready_and_says_how_to_set_up(tmp_path: Path) -> None:
    with pytest.raises(ModelNotReady) as caught:
        find_local_model(cache=tmp_path)
    message = str(caught.value)
    assert "python -m bot.demo.local_model setup" in message
    assert "verified weights" in message
    assert "llama-server" in message
    assert status_lines(cache=tmp_path)[1:] == [
        f"weights:      missing ({ModelCache(tmp_path).model_path}, sha256 {MODEL_SHA256[:12]}…)",
        f"llama-server: missing ({ModelCache(tmp_path).server_binary})",
        "server:       not running",
    ]


def test_a_stale_pid_file_is_cleared(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    cache.run_dir.mkdir()
    cache.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a llama-server
    cache.url_file.write_text("http://127.0.0.1:1/v1\n")
    assert read_pid(cache) is None
    assert not cache.pid_file.exists()
    assert not cache.url_file.exists()


def test_terminate_escalates_to_sigkill_after_the_grace_period() -> None:
    # A child that ignores SIGTERM: only the SIGKILL after the grace period ends it.
    ignore_term = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    code = f"{ignore_term}; print(1, flush=True); time.sleep(9)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.readline()
    terminate_pid(child.pid, grace=0.3, child=child)
    assert child.returncode == -9


def test_cli_reports_setup_errors_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(**kwargs: object) -> LocalModel:
        raise ModelSetupError("building llama-server needs cmake: apt-get install cmake g++")

    monkeypatch.setattr(local_model, "setup_local_model", fail)
    assert local_model.main(["setup", "--cache", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "local-model: error: building llama-server needs cmake: apt-get install cmake g++\n"
    )
