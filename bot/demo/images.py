"""Deterministic synthetic images: valid gzip-tar layers, image configs and manifest documents.

Pure functions, no HTTP; bot/demo/seed.py pushes what these build. Equal inputs give equal bytes, so
equal digests, which is what makes shared base layers shared.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.errors import MissingBinary
from tools.registry.media_types import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
)

ManifestKind = Literal["docker", "oci"]

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
COSIGN_PAYLOAD = "application/vnd.dev.cosign.simplesigning.v1+json"
BUSYBOX_PATH = "/bin/busybox"
RUN_CMD = ("/bin/busybox", "sleep", "3600")
_LAYER_MTIME = 1_700_000_000  # fixed so identical content gives identical tar bytes
_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sha256_digest(data: bytes) -> str:
    """The `sha256:<hex>` digest of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(moment: dt.datetime) -> str:
    """Format a datetime as RFC 3339 UTC with a Z suffix (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def busybox_available() -> bool:
    """Whether a static busybox exists to make runnable images (apt-get install busybox-static)."""
    return os.path.isfile(BUSYBOX_PATH)


@dataclass(frozen=True, slots=True)
class Blob:
    """A content-addressed blob (layer or config) ready to upload."""

    data: bytes
    digest: str
    diff_id: str = ""  # sha256 of the uncompressed tar, layers only

    @property
    def size(self) -> int:
        """Byte length of the blob."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class BaseImage:
    """A named base image; each layer key gives identical layer bytes wherever it is used."""

    name: str  # e.g. "docker.io/library/alpine:3.19.1", used in history and annotations
    layer_keys: tuple[str, ...]
    layer_size: int = 4096


@dataclass(slots=True)
class ImageSpec:
    """What to push: one single-platform image (docker schema2 or OCI manifest)."""

    repository: str
    tag: str | None  # None pushes by digest only (untagged)
    created: dt.datetime
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # OCI manifests only
    base: BaseImage | None = None
    own_layers: int = 1
    layer_size: int = 1024  # bytes of random payload per own layer
    media_type: ManifestKind = "docker"
    platform: tuple[str, str] = ("linux", "amd64")  # (os, architecture)
    runnable: bool = False  # add a static busybox layer so dockerd can run it
    cmd: tuple[str, ...] | None = None  # default: RUN_CMD when runnable, else ("/app/run",)
    extra_layer_seed: str = ""  # vary own layers of otherwise equal specs


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """A manifest document with the blobs it references."""

    media_type: str
    manifest: bytes
    config: Blob
    layers: tuple[Blob, ...]
    platform: tuple[str, str]

    @property
    def digest(self) -> str:
        """Digest of the manifest document."""
        return sha256_digest(self.manifest)


def dump_json(document: dict[str, Any]) -> bytes:
    """Serialise a document compactly and deterministically (the bytes are what gets digested)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _tar_gz(files: list[tuple[str, bytes, int]]) -> Blob:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        directories: set[str] = set()
        for path, _, _ in files:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.add("/".join(parts[:depth]))
        for directory in sorted(directories):
            tar.addfile(_tar_info(directory + "/", 0, tarfile.DIRTYPE, 0o755))
        for path, data, mode in files:
            tar.addfile(_tar_info(path, len(data), tarfile.REGTYPE, mode), io.BytesIO(data))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, compresslevel=6, mtime=0)
    return Blob(data=compressed, digest=sha256_digest(compressed), diff_id=sha256_digest(uncompressed))


def _tar_info(name: str, size: int, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mode, info.mtime = size, kind, mode, _LAYER_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def random_layer(key: str, size: int, path: str) -> Blob:
    """A gzip tar holding one file of `size` pseudo-random bytes derived from `key`."""
    payload = random.Random(key).randbytes(size)
    return _tar_gz([(path, payload, 0o644)])


@functools.lru_cache(maxsize=64)
def _base_layer(key: str, size: int) -> Blob:
    # Cached: every image on a base re-uses these bytes; own layers are unique and not worth caching.
    return random_layer(f"base/{key}", size, f"base/{key}.bin")


@functools.lru_cache(maxsize=1)
def busybox_layer() -> Blob:
    """A gzip tar holding /bin/busybox (static), so an image can run `busybox sleep`."""
    if not busybox_available():
        raise MissingBinary("busybox", "busybox-static")
    with open(BUSYBOX_PATH, "rb") as handle:
        return _tar_gz([("bin/busybox", handle.read(), 0o755)])


def _layers_of(spec: ImageSpec) -> list[tuple[Blob, str]]:
    """Layers bottom-up with a history line each."""
    layers: list[tuple[Blob, str]] = []
    if spec.base is not None:
        for key in spec.base.layer_keys:
            blob = _base_layer(key, spec.base.layer_size)
            layers.append((blob, f"ADD base/{key}.bin / # from {spec.base.name}"))
    if spec.runnable:
        layers.append((busybox_layer(), "COPY busybox /bin/busybox"))
    os_name, arch = spec.platform
    seed = f"{spec.repository}|{spec.tag}|{rfc3339(spec.created)}|{os_name}/{arch}|{spec.extra_layer_seed}"
    slug = spec.repository.replace("/", "-")
    for index in range(spec.own_layers):
        path = f"app/{slug}/layer{index}.bin"
        blob = random_layer(f"own/{seed}/{index}", spec.layer_size, path)
        layers.append((blob, f"COPY {path} /{path}"))
    return layers


def build_image(spec: ImageSpec) -> BuiltImage:
    """Build the config, layers and manifest document for a spec."""
    if spec.annotations and spec.media_type != "oci":
        raise ValueError("annotations need media_type='oci': docker schema2 manifests have none")
    layers = _layers_of(spec)
    created = rfc3339(spec.created)
    os_name, arch = spec.platform
    cmd = list(spec.cmd) if spec.cmd is not None else list(RUN_CMD if spec.runnable else ("/app/run",))
    config_doc = {
        "architecture": arch,
        "os": os_name,
        "created": created,
        "config": {"Env": [_PATH_ENV], "Cmd": cmd, "Labels": dict(spec.labels)},
        "rootfs": {"type": "layers", "diff_ids": [blob.diff_id for blob, _ in layers]},
        "history": [{"created": created, "created_by": line} for _, line in layers],
    }
    config_data = dump_json(config_doc)
    config = Blob(data=config_data, digest=sha256_digest(config_data))
    oci = spec.media_type == "oci"
    layer_type = OCI_LAYER if oci else DOCKER_LAYER
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": _descriptor(OCI_CONFIG if oci else DOCKER_CONFIG, config),
        "layers": [_descriptor(layer_type, blob) for blob, _ in layers],
    }
    if spec.annotations:
        manifest["annotations"] = dict(spec.annotations)
    return BuiltImage(
        media_type=manifest["mediaType"],
        manifest=dump_json(manifest),
        config=config,
        layers=tuple(blob for blob, _ in layers),
        platform=spec.platform,
    )


def _descriptor(media_type: str, blob: Blob) -> dict[str, Any]:
    return {"mediaType": media_type, "size": blob.size, "digest": blob.digest}


def build_index(
    children: list[BuiltImage], *, media_type: ManifestKind, annotations: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """Build an OCI index or a Docker manifest list over pushed children; returns (media type, bytes)."""
    if annotations and media_type != "oci":
        raise ValueError("annotations need media_type='oci': docker manifest lists have none")
    kind = OCI_INDEX if media_type == "oci" else DOCKER_MANIFEST_LIST
    entries = []
    for child in children:
        os_name, arch = child.platform
        platform = {"architecture": arch, "os": os_name}
        if arch == "arm64":
            platform["variant"] = "v8"
        entries.append(
            {
                "mediaType": child.media_type,
                "size": len(child.manifest),
                "digest": child.digest,
                "platform": platform,
            }
        )
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": kind, "manifests": entries}
    if annotations:
        document["annotations"] = dict(annotations)
    return kind, dump_json(document)


def build_signature(repository: str, subject_digest: str) -> BuiltImage:
    """Build a cosign-style signature manifest (OCI) for a subject; the signature itself is fake."""
    payload = dump_json(
        {
            "critical": {
                "identity": {"docker-reference": repository},
                "image": {"docker-manifest-digest": subject_digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    )
    layer = Blob(data=payload, digest=sha256_digest(payload), diff_id=sha256_digest(payload))
    epoch = "0001-01-01T00:00:00Z"
    config_data = dump_json(
        {
            "architecture": "",
            "os": "",
            "created": epoch,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            "history": [{"created": epoch}],
        }
    )
    config = Blob(data=config_data, digest=sha256_digest(config_data))
    fake_signature = base64.b64encode(hashlib.sha512(payload).digest()).decode()
    layer_descriptor = _descriptor(COSIGN_PAYLOAD, layer)
    layer_descriptor["annotations"] = {"dev.cosignproject.cosign/signature": fake_signature}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, config),
        "layers": [layer_descriptor],
    }
    return BuiltImage(
        media_type=OCI_MANIFEST,
        manifest=dump_json(manifest),
        config=config,
        layers=(layer,),
        platform=("", ""),
    )


def signature_tag(subject_digest: str) -> str:
    """The cosign tag for a subject digest: `sha256-<hex>.sig`."""
    algorithm, _, hex_digest = subject_digest.partition(":")
    return f"{algorithm}-{hex_digest}.sig"
