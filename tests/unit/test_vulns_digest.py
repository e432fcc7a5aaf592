"""The "Fix first" digest section keeps to ten rows and says how many were left out."""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import Settings
from bot.digest.context import collect_context
from bot.digest.sections_vulns import vulns_section_provider
from tests.fakes.synthetic import NOW, synthetic_snapshot
from tools.inventory.store import SnapshotStore
from tools.vulns.images import build_index
from tools.vulns.ingest import ingest_report
from tools.vulns.service import VulnsAccess
from tools.vulns.store import VulnStore


def test_fix_first_has_at_most_ten_rows(tmp_path: Path) -> None:
    db = tmp_path / "regent.db"
    snapshot = synthetic_snapshot(tags=20)
    snapshots = SnapshotStore(db)
    snapshots.save(snapshot)
    digest = sorted(snapshot.registries[0].manifests)[0]
    matches = [
        {
            "vulnerability": {"id": f"CVE-2026-{n:04d}", "severity": "High"},
            "artifact": {"name": f"p{n}", "version": "1"},
        }
        for n in range(1, 16)
    ]
    report = {"matches": matches, "source": {"type": "image", "target": {"manifestDigest": digest}}}
    store = VulnStore(db)
    ingest_report(
        store, json.dumps(report).encode(), source="t", index=build_index(snapshot), now=NOW, max_bytes=10**6
    )
    store.close()
    ctx = collect_context(snapshots, Settings(), now=NOW)
    snapshots.close()
    assert ctx is not None
    section = vulns_section_provider(VulnsAccess(db_path=db, production_patterns=[], approved_bases=[]))(ctx)
    assert section is not None and section.table is not None
    assert (len(section.table.rows), section.table.omitted) == (10, 5)
    assert section.lines[0] == "0 urgent (P1/P2) of 15 CVEs in 1 scanned images."
    assert section.notes[:2] == [
        "CISA KEV: not loaded (run `regent vulns feeds`).",
        "EPSS: not loaded (run `regent vulns feeds`).",
    ]
