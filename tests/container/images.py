"""Build Regent's image with no image registry: a debootstrapped Debian base, a wheelhouse, the Dockerfile.

The base rootfs tarball is cached outside the checkout (~/.cache/regent/base/, or $XDG_CACHE_HOME), so
only the first run pays for debootstrap; the image imported from it lives in the test dockerd's data root
and is reused for the rest of the session.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_TAG = "regent-base:bookworm"
IMAGE_TAG = "regent:test"
BASE_PYTHON = (3, 11)  # bookworm's python3: the wheelhouse must be built for it
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when the recipe changes, so a cached tarball of the old recipe is not reused.
_RECIPE = "1"
# What a container never needs from the rootfs (official slim images drop the same).
_SLIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info")
_CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
_CONTEXT_DIRS = ("prompts", "tools", "bot")


def cache_dir() -> Path:
    """Where the base tarball is kept between runs: $XDG_CACHE_HOME/regent/base or ~/.cache/regent/base."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "regent" / "base"


def apt_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt is configured with for SUITE main (deb822 .sources or one-line .list)."""
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for block in path.read_text().split("\n\n"):
            fields = _deb822(block)
            if (
                "deb" in fields.get("types", "").split()
                and SUITE in fields.get("suites", "").split()
                and "main" in fields.get("components", "").split()
            ):
                return fields["uris"].split()[0].rstrip("/")
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 4 and words[0] == "deb" and words[2] == SUITE and "main" in words[3:]:
                return words[1].rstrip("/")
    return DEFAULT_MIRROR


def _deb822(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    return fields


def base_tarball(*, debootstrap: str, cache: Path, mirror: str) -> tuple[Path, bool]:
    """The cached rootfs tarball, made with debootstrap if missing; (path, True when it was just built)."""
    key = hashlib.sha256(f"{_RECIPE}|{SUITE}|{','.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
    tarball = cache / f"debian-{SUITE}-{key}.tar"
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock"):  # two sessions at once: the second waits and reuses the first's
        if tarball.exists():
            return tarball, False
        for stale in cache.glob("rootfs-*"):  # left by a run that was killed; we hold the lock
            _unmount_under(stale)
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache))
        try:
            _debootstrap(debootstrap, work / "rootfs", mirror=mirror, log=cache / "debootstrap.log")
            partial = work / "rootfs.tar"
            subprocess.run(
                ["tar", "--numeric-owner", "-C", str(work / "rootfs"), "-cf", str(partial),
                 "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*",
                 "--exclude=./tmp/*", "."],
                check=True, capture_output=True,
            )  # fmt: skip
            partial.rename(tarball)
        finally:
            _unmount_under(work)
            shutil.rmtree(work, ignore_errors=True)
    return tarball, True


def _debootstrap(binary: str, rootfs: Path, *, mirror: str, log: Path) -> None:
    args = [
        binary,
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        "--components=main",
        SUITE,
        str(rootfs),
        mirror,
    ]
    with log.open("w") as out:
        done = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"debootstrap failed ({done.returncode}), {log}:\n{tail}")
    for relative in _SLIM:
        shutil.rmtree(rootfs / relative, ignore_errors=True)
    (rootfs / "etc" / "hostname").unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unmount_under(root: Path) -> None:
    # debootstrap mounts /proc and /sys in the chroot; after a failure they may still be there.
    prefix = str(root) + "/"
    points = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def build_context(dest: Path) -> Path:
    """A build context with the package sources, the Dockerfile and a wheelhouse of every wheel needed."""
    if sys.version_info[:2] != BASE_PYTHON:
        raise RuntimeError(
            f"the wheelhouse is built by this Python ({sys.version.split()[0]}); the base image has "
            f"Python {'.'.join(map(str, BASE_PYTHON))}, so its compiled wheels would not install there"
        )
    if 'ENTRYPOINT ["regent", "serve"]' not in (ROOT / "Dockerfile").read_text():
        raise RuntimeError(
            f"{ROOT / 'Dockerfile'} is not Regent's Dockerfile: something overwrote it (a test that writes "
            "./Dockerfile in the working directory?); restore it with `git checkout Dockerfile`"
        )
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in _CONTEXT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    for name in _CONTEXT_DIRS:
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copytree(ROOT / "wheelhouse", dest / "wheelhouse", ignore=shutil.ignore_patterns("*.whl"))
    # The documented offline pre-step: the project's wheel and all its dependencies, from PyPI.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest / "wheelhouse"), str(dest)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pip wheel failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return dest


@dataclass
class DockerCli:
    """The docker CLI against the test dockerd, with a private config dir and the classic builder."""

    binary: str
    host: str
    config_dir: Path

    def env(self) -> dict[str, str]:
        """The CLI's whole environment: nothing from the caller's shell reaches it."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.config_dir),
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(self.config_dir),
            # The daemon is Debian's 20.10 and buildx is not installed: the classic builder does the job.
            "DOCKER_BUILDKIT": "0",
        }

    def run(
        self, *args: str, timeout: float = 120, check: bool = True, stdin: Any = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `docker ARGS`; raise with the output when it fails and `check` is set."""
        done = subprocess.run(
            [self.binary, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=stdin,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args[:3])} … exited {done.returncode}:\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def has_image(self, reference: str) -> bool:
        """True when the daemon has an image by that name."""
        return self.run("image", "inspect", reference, check=False).returncode == 0
