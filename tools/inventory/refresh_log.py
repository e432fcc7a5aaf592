"""What each scheduled crawl, event-driven refresh and full verification did, in the state database.

`regent serve` writes one row per registry per run; the digest reads them back to say how fresh the
inventory is and what the last verification found that the registry notifications missed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from tools.inventory.refresh import TagChange
from tools.state import StateStore

RunKind = Literal["full", "refresh", "verify"]
KEPT_CHANGES = 50  # missed changes kept per row; the count is exact

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inventory_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    registry TEXT NOT NULL,
    repositories INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    missed INTEGER NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inventory_runs_at ON inventory_runs (at);
"""


@dataclass(frozen=True, slots=True)
class InventoryRun:
    """One registry in one run: how many repositories were re-crawled (-1: all), requests, misses."""

    at: datetime
    kind: RunKind
    registry: str
    repositories: int
    requests: int
    missed: int
    changes: tuple[str, ...]  # the first KEPT_CHANGES missed changes, e.g. "team/app:1.2 added"


class RefreshLog(StateStore):
    """Appends and reads inventory runs."""

    schema = _SCHEMA

    def record(
        self,
        *,
        at: datetime,
        kind: RunKind,
        registry: str,
        repositories: int,
        requests: int,
        missed: list[TagChange] | None = None,
    ) -> None:
        """Append one registry's part of a run."""
        changes = [str(change) for change in (missed or [])[:KEPT_CHANGES]]
        with self._transaction() as db:
            db.execute(
                "INSERT INTO inventory_runs (at, kind, registry, repositories, requests, missed, changes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_utc(at), kind, registry, repositories, requests, len(missed or []), json.dumps(changes)),
            )

    def since(self, moment: datetime) -> list[InventoryRun]:
        """Runs at or after `moment`, oldest first."""
        rows = self._rows(
            "SELECT at, kind, registry, repositories, requests, missed, changes FROM inventory_runs"
            " WHERE at >= ? ORDER BY id",
            (_utc(moment),),
        )
        return [
            InventoryRun(
                datetime.fromisoformat(at), kind, registry, repos, requests, missed, tuple(json.loads(c))
            )
            for at, kind, registry, repos, requests, missed, c in rows
        ]


def _utc(moment: datetime) -> str:
    # one zone and format, so text order is time order
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
