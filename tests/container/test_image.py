"""Regent's image for real: built offline on a debootstrapped base, run read-only and non-root, crawling.

The container runs with --network host (the test dockerd has no bridge), so it reaches the test registry
and the fake Slack Web API on loopback like the host does. Secrets arrive as files through `*_FILE`
variables, the way compose.yaml passes Docker secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import DB_NAME
from bot.demo.registry_server import RegistryServer, free_port
from bot.demo.seed import seed_sample
from tests.conftest import SeederFactory
from tests.container.images import DockerCli
from tests.fakes.slack_api import FakeSlackApi
from tests.leak_guard import find_secrets

pytestmark = [pytest.mark.container, pytest.mark.real, pytest.mark.timeout(1800)]

UID = 10001
NAME = "regent-under-test"
VOLUME = "regent-test-state"
BOT_TOKEN = "xoxb-container-test-token"
SIGNING_SECRET = "container-test-signing-secret"
STOP_GRACE_S = 30
StepTimer = Callable[[str], AbstractContextManager[None]]


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """Secret files as Docker mounts them: readable by the image's user only."""
    path = tmp_path / "secrets"
    path.mkdir()
    for name, value in {"slack_bot_token": BOT_TOKEN, "slack_signing_secret": SIGNING_SECRET}.items():
        (path / name).write_text(value + "\n")
        os.chown(path / name, UID, UID)
        (path / name).chmod(0o400)
    os.chown(path, UID, UID)
    path.chmod(0o500)
    return path


@pytest.fixture
def container(docker_cli: DockerCli) -> Iterator[str]:
    """The container's name; whatever happens, container and state volume are removed afterwards."""
    yield NAME
    docker_cli.run("rm", "--force", "--volumes", NAME, check=False)
    docker_cli.run("volume", "rm", "--force", VOLUME, check=False)


def test_image_serves_crawls_and_stops(
    regent_image: str,
    docker_cli: DockerCli,
    registry: RegistryServer,
    make_seeder: SeederFactory,
    secrets_dir: Path,
    container: str,
    tmp_path: Path,
    step_timer: StepTimer,
) -> None:
    seeder = make_seeder(registry)
    seed_sample(seeder, now=dt.datetime.now(dt.UTC), runnable=False)
    expected = seeder.expected()
    config = tmp_path / "regent.yml"
    # crawl_cron: serve crawls at once (no snapshot yet), then hourly; /readyz waits for that crawl.
    config.write_text(
        f"mode: read-only\nregistries:\n  - {{name: test, url: '{registry.url}'}}\n"
        "inventory: {crawl_cron: '0 * * * *'}\n"
    )
    config.chmod(0o644)
    port = free_port()
    with FakeSlackApi() as slack:
        with step_timer("docker run until /healthz answers"):
            _run(docker_cli, regent_image, config=config, secrets=secrets_dir, port=port, slack=slack)
            health = _wait_for_health(docker_cli, f"http://127.0.0.1:{port}/healthz")
        assert health == {"ok": True, "mode": "http", "socket_connected": None, "llm": False}
        assert slack.calls("auth.test")[0].authorization == f"Bearer {BOT_TOKEN}"
        with step_timer("serve's first crawl until /readyz is 200"):
            ready = _wait_until_ready(docker_cli, f"http://127.0.0.1:{port}")
        checks = ready["checks"]
        assert checks["state_db"] == {"ok": True, "detail": "writable"}  # the volume takes writes
        assert checks["inventory"]["ok"] and "newest snapshot" in checks["inventory"]["detail"]

        _assert_locked_down(docker_cli)
        with step_timer("crawl (docker exec regent inventory --json)"):
            report = _crawl(docker_cli)
        (crawled,) = report["registries"]
        assert (crawled["repositories"], crawled["tags"]) == (expected.repositories, expected.tags)
        assert (crawled["manifests"], crawled["stored_bytes"]) == (expected.manifests, expected.stored_bytes)
        state = docker_cli.run("exec", NAME, "ls", "/var/lib/regent").stdout.split()
        assert DB_NAME in state, state  # the snapshot went to the state volume
        with step_timer("HEALTHCHECK reports healthy"):
            _wait_for_status(docker_cli, "{{.State.Health.Status}}", "healthy")

        with step_timer("docker stop (SIGTERM) until exit"):
            docker_cli.run("stop", "--time", str(STOP_GRACE_S), NAME, timeout=STOP_GRACE_S + 30)
        state_after = _inspect(docker_cli)["State"]
        # 137 would mean SIGKILL: still running when the grace period was over
        assert state_after["ExitCode"] == 0, _diagnostics(docker_cli)
        assert not state_after["OOMKilled"]
    logs = _logs(docker_cli)
    assert "serving Slack over HTTP" in logs and "Traceback" not in logs, logs
    assert BOT_TOKEN not in logs and SIGNING_SECRET not in logs
    # regent.log on the state volume (a stopped container's files are still there to copy out)
    copied = tmp_path / "state-copy"
    docker_cli.run("cp", f"{NAME}:/var/lib/regent/.", str(copied))
    for log in copied.rglob("regent.log"):
        assert not find_secrets(log.read_text(errors="replace"))


def _run(
    docker: DockerCli, image: str, *, config: Path, secrets: Path, port: int, slack: FakeSlackApi
) -> None:
    docker.run(
        "run", "--detach", "--name", NAME,
        "--read-only", "--tmpfs", "/tmp",
        "--user", f"{UID}:{UID}",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
        "--network", "host",
        "--volume", f"{VOLUME}:/var/lib/regent",
        "--volume", f"{config}:/etc/regent/regent.yml:ro",
        "--volume", f"{secrets}:/run/secrets:ro",
        "--env", "SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token",
        "--env", "SLACK_SIGNING_SECRET_FILE=/run/secrets/slack_signing_secret",
        "--env", f"SLACK_API_URL={slack.api_url}",
        # The image's own HEALTHCHECK command, pointed at this port and run every second.
        "--env", f"REGENT_HEALTHCHECK_URL=http://127.0.0.1:{port}/healthz",
        "--health-interval", "1s", "--health-start-period", "60s",
        image, "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip


def _wait_for_health(docker: DockerCli, url: str, *, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if _inspect(docker)["State"]["Status"] != "running":
                pytest.fail(f"the container stopped:\n{_diagnostics(docker)}")
            try:
                reply = http.get(url)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            assert reply.status_code == 200, reply.text
            return reply.json()  # type: ignore[no-any-return]
    pytest.fail(f"/healthz did not answer within {timeout} s:\n{_diagnostics(docker)}")


def _wait_until_ready(docker: DockerCli, base: str, *, timeout: float = 120) -> dict[str, Any]:
    """Poll /readyz until 200; a 503 names the failing checks, kept for the failure message."""
    deadline = time.monotonic() + timeout
    last = ""
    with httpx.Client(timeout=5) as http:
        while time.monotonic() < deadline:
            reply = http.get(f"{base}/readyz")
            if reply.status_code == 200:
                metrics = http.get(f"{base}/metrics")
                assert metrics.status_code == 200 and "# TYPE" in metrics.text
                return reply.json()  # type: ignore[no-any-return]
            assert reply.status_code == 503, reply.text
            last = reply.text
            time.sleep(0.5)
    pytest.fail(f"/readyz not ready after {timeout} s: {last}\n{_diagnostics(docker)}")


def _assert_locked_down(docker: DockerCli) -> None:
    """Non-root (asked of the kernel, not of the image) and nothing writable outside volume and tmpfs."""
    details = _inspect(docker)
    assert details["HostConfig"]["ReadonlyRootfs"] is True
    status = Path(f"/proc/{details['State']['Pid']}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == [str(UID)] * 4, status  # real, effective, saved and filesystem uid
    inside = docker.run("exec", NAME, "cat", "/proc/1/status").stdout
    assert f"Uid:\t{UID}\t{UID}\t{UID}\t{UID}" in inside
    probe = "import sys\ntry:\n open(sys.argv[1], 'w')\nexcept OSError as e:\n print(e.errno)"
    for path in ("/opt/regent/probe", "/etc/regent/probe", "/probe"):
        errno = docker.run("exec", NAME, "python3", "-c", probe, path).stdout.strip()
        assert errno == "30", f"{path} is writable (errno {errno!r}); 30 is EROFS"
    writable = "import pathlib, sys; [pathlib.Path(p, 'probe').write_text('x') for p in sys.argv[1:]]"
    docker.run("exec", NAME, "python3", "-c", writable, "/tmp", "/var/lib/regent")


def _crawl(docker: DockerCli) -> dict[str, Any]:
    done = docker.run("exec", NAME, "regent", "inventory", "--json", timeout=180)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _wait_for_status(docker: DockerCli, template: str, wanted: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = docker.run("inspect", "--format", template, NAME).stdout.strip()
        if seen == wanted:
            return
        time.sleep(0.5)
    pytest.fail(f"{template} is {seen!r}, not {wanted!r}, after {timeout} s:\n{_diagnostics(docker)}")


def _inspect(docker: DockerCli) -> dict[str, Any]:
    return json.loads(docker.run("inspect", NAME).stdout)[0]  # type: ignore[no-any-return]


def _logs(docker: DockerCli) -> str:
    done = docker.run("logs", NAME, check=False)
    return done.stdout + done.stderr


def _diagnostics(docker: DockerCli) -> str:
    """The container's output and the end of regent.log on its state volume (tracebacks go there)."""
    with tempfile.TemporaryDirectory() as out:
        docker.run("cp", f"{NAME}:/var/lib/regent/regent.log", out, check=False)
        copied = Path(out, "regent.log")
        log = copied.read_text(errors="replace") if copied.exists() else "(none)"
    return f"{_logs(docker)}\n--- regent.log (tail) ---\n{log[-6000:]}"
