"""Inventory snapshots in the SQLite state database: history, first-seen times, the last tag map."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

from tools.inventory.models import Digest, InventorySnapshot, Manifest
from tools.inventory.serialize import manifests_by_registry, snapshot_from_dict, snapshot_to_dict
from tools.state import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    taken_at TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_stats (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    registry_url TEXT NOT NULL,
    repositories INTEGER NOT NULL,
    tags INTEGER NOT NULL,
    manifests INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    partial INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, registry_url)
);
CREATE TABLE IF NOT EXISTS tag_digests (
    registry_url TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (registry_url, repository, tag)
);
CREATE TABLE IF NOT EXISTS first_seen (
    registry_url TEXT NOT NULL,
    digest TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (registry_url, digest)
);
"""


@dataclass(frozen=True, slots=True)
class RegistryStats:
    """Per-registry totals of one snapshot, for trends."""

    snapshot_id: int
    taken_at: datetime
    registry_url: str
    repositories: int
    tags: int
    manifests: int
    stored_bytes: int
    partial: bool


class SnapshotStore(StateStore):
    """Saves and loads inventory snapshots."""

    schema = _SCHEMA

    def save(self, snapshot: InventorySnapshot) -> int:
        """Persist a snapshot atomically; returns its id."""
        # orjson writes the same compact JSON ~8x faster; zlib level 1 is 2.5x faster than 6, 9 % larger
        body = zlib.compress(orjson.dumps(snapshot_to_dict(snapshot)), 1)
        when = snapshot.taken_at.isoformat()
        with self._transaction() as db:
            snapshot_id = int(
                db.execute("INSERT INTO snapshots (taken_at, body) VALUES (?, ?)", (when, body)).lastrowid
                or 0
            )
            for inv in snapshot.registries:
                url = inv.source.url
                db.execute(
                    "INSERT INTO registry_stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        snapshot_id,
                        url,
                        len(inv.tags),
                        inv.tag_count,
                        len(inv.manifests),
                        inv.stored_bytes(),
                        int(inv.partial),
                    ),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO first_seen VALUES (?, ?, ?)",
                    ((url, digest, when) for digest in inv.manifests),
                )
                if inv.partial and not inv.tags:
                    continue  # an unreachable registry must not erase what we knew about its tags
                db.execute("DELETE FROM tag_digests WHERE registry_url = ?", (url,))
                db.executemany(
                    "INSERT INTO tag_digests VALUES (?, ?, ?, ?)",
                    (
                        (url, repo, tag, digest)
                        for repo, tags in inv.tags.items()
                        for tag, digest in tags.items()
                    ),
                )
        return snapshot_id

    def previous_tags(self, registry_url: str) -> dict[str, dict[str, Digest]]:
        """Repository -> tag -> digest as the last crawl of this registry saw it."""
        tags: dict[str, dict[str, Digest]] = {}
        rows = self._rows(
            "SELECT repository, tag, digest FROM tag_digests WHERE registry_url = ?", (registry_url,)
        )
        for repo, tag, digest in rows:
            tags.setdefault(repo, {})[tag] = digest
        return tags

    def first_seen(self, registry_url: str) -> dict[Digest, datetime]:
        """When each digest of a registry was first seen by a crawl."""
        rows = self._rows("SELECT digest, first_seen FROM first_seen WHERE registry_url = ?", (registry_url,))
        return {digest: datetime.fromisoformat(when) for digest, when in rows}

    def latest_taken_at(self) -> datetime | None:
        """When the newest snapshot was taken (cheap: no snapshot is decoded), or None before the first."""
        row = self._row("SELECT taken_at FROM snapshots ORDER BY id DESC LIMIT 1")
        return datetime.fromisoformat(row[0]) if row else None

    def latest(self) -> InventorySnapshot | None:
        """The most recent snapshot, or None before the first crawl."""
        row = self._row("SELECT body FROM snapshots ORDER BY id DESC LIMIT 1")
        return _decode(row[0]) if row else None

    def latest_manifests(self) -> dict[str, Mapping[Digest, Manifest]]:
        """The latest snapshot's manifests by registry URL and digest (nothing else is decoded; each
        manifest is rebuilt when first looked up)."""
        row = self._row("SELECT body FROM snapshots ORDER BY id DESC LIMIT 1")
        return manifests_by_registry(orjson.loads(zlib.decompress(row[0]))) if row else {}

    def snapshot(self, snapshot_id: int) -> InventorySnapshot | None:
        """One snapshot by id (ids come from `stats()`), or None."""
        row = self._row("SELECT body FROM snapshots WHERE id = ?", (snapshot_id,))
        return _decode(row[0]) if row else None

    def snapshots(self, *, limit: int = 30) -> list[InventorySnapshot]:
        """The most recent snapshots, oldest first."""
        rows = self._rows("SELECT body FROM snapshots ORDER BY id DESC LIMIT ?", (limit,))
        return [_decode(body) for (body,) in reversed(rows)]

    def stats(self, *, registry_url: str | None = None) -> list[RegistryStats]:
        """Per-registry totals of every snapshot, oldest first."""
        query = (
            "SELECT s.id, s.taken_at, r.registry_url, r.repositories, r.tags, r.manifests, r.stored_bytes,"
            " r.partial FROM registry_stats r JOIN snapshots s ON s.id = r.snapshot_id"
        )
        args: tuple[str, ...] = ()
        if registry_url is not None:
            query += " WHERE r.registry_url = ?"
            args = (registry_url,)
        rows = self._rows(query + " ORDER BY s.id", args)
        return [
            RegistryStats(sid, datetime.fromisoformat(when), url, repos, tags, manifests, size, bool(partial))
            for sid, when, url, repos, tags, manifests, size, partial in rows
        ]


def _decode(body: bytes) -> InventorySnapshot:
    return snapshot_from_dict(orjson.loads(zlib.decompress(body)))


class PreviousCrawls:
    """What earlier crawls left of each registry, for one run's sources: the last tag map (kept across
    partial crawls) and the latest snapshot's parsed manifests, decoded once for every registry."""

    def __init__(self, store: SnapshotStore) -> None:
        self._store = store
        self._manifests: dict[str, Mapping[Digest, Manifest]] | None = None

    def tags(self, registry_url: str) -> dict[str, dict[str, Digest]]:
        """Repository -> tag -> digest as the last crawl of this registry saw it."""
        return self._store.previous_tags(registry_url)

    def manifests(self, registry_url: str) -> Mapping[Digest, Manifest]:
        """The manifests the latest snapshot holds for this registry (empty before its first crawl)."""
        if self._manifests is None:
            self._manifests = self._store.latest_manifests()
        return self._manifests.get(registry_url, {})
