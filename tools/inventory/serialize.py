"""Snapshot <-> JSON-ready dicts, compact enough to keep every crawl in the state database."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from tools.inventory.models import (
    Deployment,
    Descriptor,
    Environment,
    InventorySnapshot,
    Manifest,
    Platform,
    RegistryInventory,
    RegistrySource,
)


def snapshot_to_dict(snapshot: InventorySnapshot) -> dict[str, Any]:
    """A JSON-ready dict of a whole snapshot."""
    return {
        "taken_at": snapshot.taken_at.isoformat(),
        "registries": [_registry_to_dict(r) for r in snapshot.registries],
        "environments": [_slots_dict(e) for e in snapshot.environments],
        "deployments": [_slots_dict(d) for d in snapshot.deployments],
        "errors": list(snapshot.errors),
        "requests": dict(snapshot.requests),
    }


def snapshot_from_dict(data: dict[str, Any]) -> InventorySnapshot:
    """Rebuild a snapshot written by snapshot_to_dict."""
    return InventorySnapshot(
        taken_at=datetime.fromisoformat(data["taken_at"]),
        registries=[_registry_from_dict(r) for r in data.get("registries", [])],
        environments=[Environment(**e) for e in data.get("environments", [])],
        deployments=[Deployment(**d) for d in data.get("deployments", [])],
        errors=list(data.get("errors", [])),
        requests=dict(data.get("requests", {})),
    )


def manifests_by_registry(data: dict[str, Any]) -> dict[str, Mapping[str, Manifest]]:
    """Only the manifests of a snapshot written by snapshot_to_dict, by registry URL and digest, each
    rebuilt when first looked up."""
    return {
        registry["source"]["url"]: LazyManifests({m["d"]: m for m in registry.get("manifests", [])})
        for registry in data.get("registries", [])
    }


class LazyManifests(Mapping[str, Manifest]):
    """Manifests by digest, rebuilt from their stored form on first lookup: a warm crawl looks them up from
    its worker threads as HEADs come back, instead of rebuilding all of them before its first request."""

    def __init__(self, stored: dict[str, dict[str, Any]]) -> None:
        self._stored = stored
        self._built: dict[str, Manifest] = {}

    def __getitem__(self, digest: str) -> Manifest:
        built = self._built.get(digest)
        if built is None:  # two threads may both build one: equal values, either may be kept
            built = self._built[digest] = _manifest_from_list(self._stored[digest])
        return built

    def __contains__(self, digest: object) -> bool:
        return digest in self._stored

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


def _slots_dict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _registry_to_dict(inventory: RegistryInventory) -> dict[str, Any]:
    return {
        "source": _slots_dict(inventory.source),
        "tags": inventory.tags,
        "repository_digests": {repo: sorted(d) for repo, d in inventory.repository_digests.items()},
        "manifests": [_manifest_to_list(m) for m in inventory.manifests.values()],
        "errors": inventory.errors,
        "partial": inventory.partial,
        # native clocks (tools/registry/kinds); absent in snapshots written before them
        "pushed": {digest: moment.isoformat() for digest, moment in inventory.pushed.items()},
        "last_pulled": {digest: moment.isoformat() for digest, moment in inventory.last_pulled.items()},
        "native_sizes": dict(inventory.native_sizes),
        "push_clock": inventory.push_clock,
        "pull_clock": inventory.pull_clock,
    }


def _registry_from_dict(data: dict[str, Any]) -> RegistryInventory:
    manifests = [_manifest_from_list(m) for m in data.get("manifests", [])]
    return RegistryInventory(
        source=_source_from_dict(data["source"]),
        tags={repo: dict(tags) for repo, tags in data.get("tags", {}).items()},
        repository_digests={repo: set(d) for repo, d in data.get("repository_digests", {}).items()},
        manifests={m.digest: m for m in manifests},
        errors=list(data.get("errors", [])),
        partial=bool(data.get("partial", False)),
        pushed=_times(data.get("pushed")),
        last_pulled=_times(data.get("last_pulled")),
        native_sizes={digest: int(size) for digest, size in (data.get("native_sizes") or {}).items()},
        push_clock=data.get("push_clock"),
        pull_clock=data.get("pull_clock"),
    )


def _times(data: dict[str, str] | None) -> dict[str, datetime]:
    return {digest: datetime.fromisoformat(moment) for digest, moment in (data or {}).items()}


def _source_from_dict(data: dict[str, Any]) -> RegistrySource:
    # `extra` is a tuple of pairs in the model (hashable), a list of lists in JSON
    extra = tuple((str(key), str(value)) for key, value in data.get("extra", ()))
    return RegistrySource(**{**data, "extra": extra})


def _descriptor_to_list(d: Descriptor) -> list[Any]:
    platform = [d.platform.os, d.platform.architecture, d.platform.variant] if d.platform else None
    return [d.digest, d.size, d.media_type, platform]


def _descriptor_from_list(data: list[Any]) -> Descriptor:
    platform = Platform(*data[3]) if data[3] else None
    return Descriptor(digest=data[0], size=data[1], media_type=data[2], platform=platform)


def _manifest_to_list(m: Manifest) -> dict[str, Any]:
    # A dict with short keys: readable in the database, and a few times smaller than field names.
    return {
        "d": m.digest,
        "t": m.media_type,
        "s": m.size,
        "c": _descriptor_to_list(m.config) if m.config else None,
        "l": [_descriptor_to_list(layer) for layer in m.layers],
        "ch": [_descriptor_to_list(child) for child in m.children],
        "sub": m.subject,
        "at": m.artifact_type,
        "an": m.annotations,
        "cr": m.created.isoformat() if m.created else None,
        "p": [m.platform.os, m.platform.architecture, m.platform.variant] if m.platform else None,
        "lb": m.labels,
        "di": list(m.diff_ids),
    }


def _manifest_from_list(data: dict[str, Any]) -> Manifest:
    return Manifest(
        digest=data["d"],
        media_type=data["t"],
        size=data["s"],
        config=_descriptor_from_list(data["c"]) if data.get("c") else None,
        layers=tuple(_descriptor_from_list(x) for x in data.get("l", [])),
        children=tuple(_descriptor_from_list(x) for x in data.get("ch", [])),
        subject=data.get("sub"),
        artifact_type=data.get("at", ""),
        annotations=data.get("an", {}),
        created=datetime.fromisoformat(data["cr"]) if data.get("cr") else None,
        platform=Platform(*data["p"]) if data.get("p") else None,
        labels=data.get("lb", {}),
        diff_ids=tuple(data.get("di", [])),
    )
