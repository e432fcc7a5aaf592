"""Session fixtures of the container tests: the docker CLI, the debootstrapped base, Regent's image, timings.

Every step is timed; the times are printed at the end of the session (README, "Run it as a container").
Locally a missing part (debootstrap, dockerd, the docker CLI, root) skips; REGENT_REQUIRE_REAL=1 fails.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from bot.demo.dockerd import DockerDaemon
from tests.conftest import REQUIRE_REAL_ENV, need_binary
from tests.container.images import (
    BASE_TAG,
    IMAGE_TAG,
    DockerCli,
    apt_mirror,
    base_tarball,
    build_context,
    cache_dir,
)

_TIMES: list[tuple[str, float]] = []


def need_real(condition: bool, reason: str) -> None:
    """Skip when `condition` is false, or fail under REGENT_REQUIRE_REAL=1 (CI)."""
    if condition:
        return
    if os.environ.get(REQUIRE_REAL_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_REAL_ENV}=1: a missing real part is a failure, not a skip)")
    pytest.skip(reason)


@contextmanager
def _timed(step: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        _TIMES.append((step, time.monotonic() - start))


@pytest.fixture(scope="session")
def step_timer() -> Callable[[str], AbstractContextManager[None]]:
    """`with step_timer("build"): ...` records how long a step took, for the end-of-session report."""
    return _timed


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every timed step (seconds) after the test results."""
    if not _TIMES:
        return
    terminalreporter.section("container test timings")
    for step, seconds in _TIMES:
        terminalreporter.write_line(f"{step:<44} {seconds:8.1f} s")


@pytest.fixture(scope="session")
def docker_cli(dockerd: DockerDaemon, tmp_path_factory: pytest.TempPathFactory) -> DockerCli:
    """The docker CLI talking to the session's private dockerd."""
    binary = need_binary("docker", "docker.io")
    return DockerCli(binary=binary, host=dockerd.docker_host, config_dir=tmp_path_factory.mktemp("docker"))


@pytest.fixture(scope="session")
def base_image(docker_cli: DockerCli) -> str:
    """`regent-base:bookworm`: a debootstrapped Debian rootfs (cached tarball) imported into the dockerd."""
    debootstrap = need_binary("debootstrap", "debootstrap")
    need_real(os.geteuid() == 0, "debootstrap needs root")
    if docker_cli.has_image(BASE_TAG):
        return BASE_TAG
    start = time.monotonic()
    tarball, built = base_tarball(debootstrap=debootstrap, cache=cache_dir(), mirror=apt_mirror())
    _TIMES.append(
        ("debootstrap base rootfs" if built else "base rootfs (cached tarball)", time.monotonic() - start)
    )
    with _timed("docker import base"):
        docker_cli.run(
            "import",
            "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", 'CMD ["python3"]',
            str(tarball), BASE_TAG,
            timeout=300,
        )  # fmt: skip
    return BASE_TAG


@pytest.fixture(scope="session")
def regent_image(docker_cli: DockerCli, base_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Regent's image, built from the Dockerfile on the local base with RUN steps that have no network."""
    context: Path = tmp_path_factory.mktemp("context")
    with _timed("wheelhouse (pip wheel, host)"):
        build_context(context)
    with _timed("docker build (no network)"):
        docker_cli.run(
            "build",
            "--network", "none",
            "--build-arg", f"BASE_IMAGE={base_image}",
            "--tag", IMAGE_TAG,
            str(context),
            timeout=900,
        )  # fmt: skip
    return IMAGE_TAG
