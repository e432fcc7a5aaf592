"""A runnable registry image built from Debian's docker-registry binary, for a registry in a container.

Laid out like the official `registry:2` image, so Regent treats it like one: the binary at
/bin/registry, the config at /etc/docker/registry/config.yml, storage at /var/lib/registry, and
busybox with the applets registry maintenance uses (sh, cat, find, stat, du). The binary's shared
libraries (libc and the loader, from `ldd`) are copied in. Built deterministically in memory and pushed
with the Seeder; dockerd then pulls it like any image. No network and no Docker Hub needed.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import io
import subprocess
import tarfile
from pathlib import Path

import yaml

from bot.demo.binaries import require_binary
from bot.demo.images import (
    BUSYBOX_PATH,
    Blob,
    BuiltImage,
    busybox_available,
    dump_json,
    rfc3339,
    sha256_digest,
)
from bot.errors import MissingBinary
from tools.registry.media_types import DOCKER_CONFIG, DOCKER_MANIFEST

REGISTRY_BINARY = "/bin/registry"
CONFIG_PATH = "/etc/docker/registry/config.yml"
DATA_DIR = "/var/lib/registry"
APPLETS = ("sh", "cat", "find", "stat", "du", "ls", "sleep", "wc")
_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_MTIME = 1_700_000_000
CONFIG = {
    "version": 0.1,
    "log": {"level": "warn", "accesslog": {"disabled": True}},
    "storage": {
        "filesystem": {"rootdirectory": DATA_DIR},
        "delete": {"enabled": True},
        "maintenance": {"uploadpurging": {"enabled": False}},
    },
    "http": {"addr": ":5000", "secret": "regent-test-registry"},
}


def _libraries(binary: str) -> list[str]:
    """Absolute paths of the shared libraries `ldd` lists for the binary (the loader included)."""
    done = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
    paths = []
    for line in done.stdout.splitlines():
        parts = line.split()
        for part in parts:
            if part.startswith("/"):
                paths.append(part)
                break
    return paths


def _layer(entries: list[tuple[str, bytes | None, int, str]]) -> Blob:
    """A gzip tar of (path, data or None for a symlink, mode, link target)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        directories = sorted(
            {"/".join(p.split("/")[:i]) for p, *_ in entries for i in range(1, p.count("/") + 1)}
        )
        for directory in directories:
            tar.addfile(_info(directory + "/", tarfile.DIRTYPE, 0o755))
        for path, data, mode, link in entries:
            if data is None:
                info = _info(path, tarfile.SYMTYPE, 0o777)
                info.linkname = link
                tar.addfile(info)
            else:
                info = _info(path, tarfile.REGTYPE, mode)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, compresslevel=1, mtime=0)
    return Blob(data=compressed, digest=sha256_digest(compressed), diff_id=sha256_digest(uncompressed))


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, _MTIME, 0, 0
    return info


@functools.lru_cache(maxsize=2)
def registry_image(binary: str | None = None) -> BuiltImage:
    """The image: a busybox layer and a registry layer (binary, its libraries, the config)."""
    binary = binary or require_binary("docker-registry", "docker-registry")
    if not busybox_available():
        raise MissingBinary("busybox", "busybox-static")
    tools: list[tuple[str, bytes | None, int, str]] = [
        ("bin/busybox", Path(BUSYBOX_PATH).read_bytes(), 0o755, "")
    ]
    tools += [(f"bin/{applet}", None, 0o777, "busybox") for applet in APPLETS]
    registry: list[tuple[str, bytes | None, int, str]] = [
        (REGISTRY_BINARY.lstrip("/"), Path(binary).read_bytes(), 0o755, "")
    ]
    for library in _libraries(binary):
        registry.append((library.lstrip("/"), Path(library).resolve().read_bytes(), 0o755, ""))
    registry.append((CONFIG_PATH.lstrip("/"), yaml.safe_dump(CONFIG).encode(), 0o644, ""))
    registry.append((DATA_DIR.lstrip("/") + "/.keep", b"", 0o644, ""))
    layers = (_layer(tools), _layer(registry))
    created = rfc3339(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": [REGISTRY_BINARY],
            "Cmd": ["serve", CONFIG_PATH],
            "Volumes": {DATA_DIR: {}},
            "ExposedPorts": {"5000/tcp": {}},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": created, "created_by": "busybox"},
            {"created": created, "created_by": "registry"},
        ],
    }
    config = Blob(data=dump_json(config_doc), digest=sha256_digest(dump_json(config_doc)))
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.size, "digest": config.digest},
        "layers": [{"mediaType": _LAYER, "size": b.size, "digest": b.digest} for b in layers],
    }
    return BuiltImage(
        media_type=DOCKER_MANIFEST,
        manifest=dump_json(manifest),
        config=config,
        layers=layers,
        platform=("linux", "amd64"),
    )
