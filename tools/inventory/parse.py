"""Turn raw manifest documents and image configs into the inventory model, distrusting every field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tools.errors import BadResponse
from tools.inventory.models import Descriptor, Manifest, Platform
from tools.registry.media_types import INDEX_TYPES, MANIFEST_TYPES
from tools.registry.reference import is_sha256_digest

MAX_ENTRIES = 10_000  # layers or index children; more is not an image, it is an attack
MAX_BLOB_SIZE = 1 << 44  # 16 TiB: any larger "size" is a lie that would poison byte totals


def parse_manifest(digest: str, media_type: str, size: int, document: dict[str, Any]) -> Manifest:
    """Build a Manifest (without config facts) from a manifest document."""
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        media_type = declared
    if media_type not in MANIFEST_TYPES:
        raise BadResponse(f"manifest {digest} has unsupported media type {str(media_type)[:100]!r}")
    annotations = _str_map(document.get("annotations"))
    subject = document.get("subject")
    subject_digest = subject.get("digest") if isinstance(subject, dict) else None
    artifact_type = document.get("artifactType")
    common: dict[str, Any] = {
        "digest": digest,
        "media_type": media_type,
        "size": size,
        "annotations": annotations,
        "subject": subject_digest if isinstance(subject_digest, str) else None,
        "artifact_type": artifact_type if isinstance(artifact_type, str) else "",
    }
    if media_type in INDEX_TYPES:
        children = tuple(_descriptor(d, digest) for d in _list(document.get("manifests"), digest))
        if any(child.digest == digest for child in children):
            raise BadResponse(f"index {digest} lists itself")
        return Manifest(children=children, **common)
    config = document.get("config")
    if not isinstance(config, dict):
        raise BadResponse(f"manifest {digest} has no config descriptor")
    layers = tuple(_descriptor(d, digest) for d in _list(document.get("layers"), digest))
    return Manifest(config=_descriptor(config, digest), layers=layers, **common)


def with_config(manifest: Manifest, config: dict[str, Any]) -> Manifest:
    """Fold the facts of an image config (created, platform, labels, diff_ids) into its manifest."""
    inner = _dict(config.get("config"))
    rootfs = _dict(config.get("rootfs"))
    raw_diff_ids = rootfs.get("diff_ids")
    diff_ids: list[object] = raw_diff_ids if isinstance(raw_diff_ids, list) else []
    os_name, arch = config.get("os"), config.get("architecture")
    platform = None
    if isinstance(os_name, str) and isinstance(arch, str):
        variant = config.get("variant")
        platform = Platform(
            os=os_name, architecture=arch, variant=variant if isinstance(variant, str) else ""
        )
    return Manifest(
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=manifest.size,
        config=manifest.config,
        layers=manifest.layers,
        children=manifest.children,
        subject=manifest.subject,
        artifact_type=manifest.artifact_type,
        annotations=manifest.annotations,
        created=parse_time(config.get("created")),
        platform=platform,
        labels=_str_map(inner.get("Labels")),
        diff_ids=tuple(d for d in diff_ids[:MAX_ENTRIES] if isinstance(d, str)),
    )


def is_image_config(media_type: str) -> bool:
    """True when a config descriptor points at a container image config worth fetching."""
    return media_type in {
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.image.config.v1+json",
    }


def parse_time(value: object) -> datetime | None:
    """RFC 3339 with optional nanoseconds (Go's format) to an aware datetime; None when unparseable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Go writes up to 9 fractional digits; Python takes 6
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
        # In UTC now: `0001-01-01T00:00:00+14:00` parses but overflows in the first conversion (the
        # clocks, the digest's time zone), which crashed the analysis of a whole inventory.
        utc = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return utc if 1970 <= utc.year < 9999 else None  # Go's zero time (year 1) means "not set"


def _descriptor(raw: object, owner: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise BadResponse(f"manifest {owner} has a descriptor that is not an object")
    digest, size = raw.get("digest"), raw.get("size")
    if not isinstance(digest, str) or not is_sha256_digest(digest):  # `sha256:` + 64 of `../` is 71 long
        raise BadResponse(f"manifest {owner} has a descriptor with a bad digest")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_BLOB_SIZE:
        raise BadResponse(f"manifest {owner} has a descriptor with an absurd size")
    platform_raw = raw.get("platform")
    platform = None
    if isinstance(platform_raw, dict):
        variant = platform_raw.get("variant")
        platform = Platform(
            os=str(platform_raw.get("os", "")),
            architecture=str(platform_raw.get("architecture", "")),
            variant=variant if isinstance(variant, str) else "",
        )
    media_type = raw.get("mediaType")
    return Descriptor(
        digest=digest,
        size=size,
        media_type=media_type if isinstance(media_type, str) else "",
        platform=platform,
    )


def _list(value: object, owner: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadResponse(f"manifest {owner} has a malformed list")
    if len(value) > MAX_ENTRIES:
        raise BadResponse(f"manifest {owner} has {len(value)} entries, over {MAX_ENTRIES}")
    return value


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float | bool)}
