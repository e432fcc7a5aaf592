"""Plans: the dry-run result of evaluating policies, immutable once made and identified by a hash of items.

Byte figures (see tools/analysis/reclaim.py):
- `PlanItem.bytes`: bytes only this (repository, digest) references anywhere in the registry, i.e. what
  deleting this item frees even if nothing else in the plan were deleted.
- `Plan.shared_bytes`: bytes freed only because several items of the plan go together (blobs they share
  and nothing surviving references), counted once.
- `Plan.reclaimable_bytes`: the dedup-correct total = sum of item bytes + shared_bytes; what garbage
  collection frees after the plan is executed in full.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tools.inventory.models import RegistrySource
from tools.units import format_bytes

ItemKind = Literal["image", "index", "child", "referrer"]
_HASH_BATCH = 1000


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanItem(_Frozen):
    """One manifest to delete by digest; deleting it removes every tag listed."""

    registry: str
    repository: str
    digest: str
    tags: list[str]
    reason: str
    bytes: int  # exclusive bytes: freed by deleting this item alone (see module docstring)
    kind: ItemKind
    media_type: str = ""
    deleted_with: list[str] = []  # parent index / subject digests in the plan this item goes with
    config_digest: str | None = None  # an engine's image id, for the in-use re-check


class KeptDigest(_Frozen):
    """A digest in a policy's scope that stays, with the first reason that keeps it."""

    registry: str
    repository: str
    digest: str
    tags: list[str]
    reason: str


class PlanRegistry(_Frozen):
    """A registry the plan touches and what it takes there to turn deletes into free disk."""

    name: str
    url: str
    kind: str
    access: str
    after_delete: str


class Plan(_Frozen):
    """A dry-run plan; never changes once made (`items_hash` covers the items)."""

    plan_id: str
    created_at: datetime
    policies: list[str]
    registries: list[PlanRegistry]
    items: list[PlanItem]
    kept: list[KeptDigest]
    reclaimable_bytes: int  # dedup-correct total, what GC frees after every item is deleted
    shared_bytes: int  # part of the total freed only by deleting several items together
    items_hash: str
    warnings: list[str] = []

    @property
    def kind(self) -> str:
        """The kind of change a plan is (tools/changes/kinds.py); proposals store it."""
        return "plan"

    @property
    def change_id(self) -> str:
        """The id the change pipeline knows it by (tools/changes/base.py)."""
        return self.plan_id

    def verify_hash(self) -> bool:
        """True if items_hash still matches the items."""
        return hash_items(item.model_dump(mode="json") for item in self.items) == self.items_hash

    def summary(self) -> str:
        """One line for people: counts and bytes."""
        return (
            f"plan {self.plan_id}: delete {len(self.items)} manifests, keep {len(self.kept)}, "
            f"reclaim {format_bytes(self.reclaimable_bytes)} after garbage collection"
        )


def canonical_json(value: Any) -> str:
    """Stable JSON: sorted keys, no whitespace, UTF-8 kept; equal data gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hash_items(items: Iterable[Mapping[str, Any]]) -> str:
    """sha256 over the canonical JSON of the items, in order: the list's JSON, fed a thousand items at a
    time (the whole text of a million items is ~400 MB) and byte for byte the same."""
    digest = hashlib.sha256(b"[")
    batch: list[Mapping[str, Any]] = []
    separator = b""
    for item in items:
        batch.append(item)
        if len(batch) == _HASH_BATCH:
            digest.update(separator + canonical_json(batch)[1:-1].encode())
            separator, batch = b",", []
    if batch:
        digest.update(separator + canonical_json(batch)[1:-1].encode())
    digest.update(b"]")
    return "sha256:" + digest.hexdigest()


_AFTER_DELETE = {
    "ecr": "ECR frees the storage of deleted images itself; no garbage collection step.",
    "azure": "ACR frees storage of deleted manifests itself; no garbage collection step.",
    "dockerhub": "Docker Hub frees storage of deleted manifests itself.",
    "quay": "Quay garbage-collects deleted manifests itself (after the namespace's time machine window).",
    "github": "GHCR frees storage when the package version is deleted; no garbage collection step.",
    "gitlab": (
        "GitLab frees unreferenced blobs with its online garbage collector (about 24 h later) or an "
        "administrator's `gitlab-ctl registry-garbage-collect`."
    ),
}
_DISTRIBUTION = (
    "Disk is freed only by garbage collection on the registry host: stop the registry (or set "
    "storage.maintenance.readonly), run `registry garbage-collect <config.yml>` without --delete-untagged "
    "(distribution 2.x deletes the children of multi-arch images with it), then start it again. Harbor: "
    "run GC from Administration > Clean Up."
)
_PORTAINER = (
    " Through Portainer BE the registry's deletes also exist as Portainer routes: "
    "DELETE /api/registries/{id}/repositories/{repo}/tags, and for ECR "
    "DELETE /api/registries/{id}/ecr/repositories/{repo}/tags."
)


def after_delete_note(source: RegistrySource) -> str:
    """What is still needed after the deletes to free disk in this kind of registry."""
    note = _AFTER_DELETE.get(source.kind, _DISTRIBUTION)
    return note + (_PORTAINER if source.access == "portainer-proxy" else "")


def plan_registry(source: RegistrySource) -> PlanRegistry:
    """The plan's record of a registry."""
    return PlanRegistry(
        name=source.name,
        url=source.url,
        kind=source.kind,
        access=source.access,
        after_delete=after_delete_note(source),
    )


def new_plan_id(now: datetime, items_hash: str) -> str:
    """A readable, unique-enough id: time plus the start of the items hash plus randomness."""
    return f"plan-{now.strftime('%Y%m%d-%H%M%S')}-{items_hash[7:13]}{secrets.token_hex(3)}"
