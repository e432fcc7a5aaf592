"""The vuln_* tables: idempotent report storage, atomic feed replacement, and which reports are current."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.synthetic import fake_digest, synthetic_snapshot
from tools.vulns.feeds import EpssFeed, KevEntry, KevFeed
from tools.vulns.images import build_index
from tools.vulns.reports import parse_report
from tools.vulns.store import VulnStore
from tools.vulns.triage import run_triage

NOW = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = VulnStore(tmp_path / "regent.db")
    yield opened
    opened.close()


def _grype(digest: str, cves: list[str], *, when: str, fixed: bool = True) -> bytes:
    matches = [
        {
            "vulnerability": {
                "id": cve,
                "severity": "High",
                "fix": {"versions": ["2"] if fixed else [], "state": "fixed" if fixed else "not-fixed"},
            },
            "artifact": {"name": "zlib", "version": "1"},
        }
        for cve in cves
    ]
    target = {"userInput": "x", "manifestDigest": digest, "imageID": "", "repoDigests": []}
    document = {
        "matches": matches,
        "source": {"type": "image", "target": target},
        "descriptor": {"timestamp": when},
    }
    return json.dumps(document).encode()


def test_saving_twice_is_a_noop(store: VulnStore) -> None:
    report = parse_report(
        _grype(fake_digest("m"), ["CVE-2026-0001", "CVE-2026-0002"], when="2026-11-26T00:00:00Z"), source="a"
    )
    first = store.save_report(report, source="a", matched=[fake_digest("m")], ingested_at=NOW)
    second = store.save_report(report, source="b", matched=[], ingested_at=NOW)
    assert first == (first[0], True) and second == (first[0], False)
    (stored,) = store.reports()
    assert (stored.source, stored.findings, stored.matched) == ("a", 2, [fake_digest("m")])
    assert [f.cve for f in store.findings([stored.id])[stored.id]] == ["CVE-2026-0001", "CVE-2026-0002"]


def test_feeds_replace_atomically_and_look_up_in_chunks(store: VulnStore) -> None:
    cves = [f"CVE-2026-{n:05d}" for n in range(1200)]
    store.replace_epss(
        EpssFeed(source="e", version="v1", released=NOW, scores={c: (0.5, 0.9) for c in cves}), loaded_at=NOW
    )
    store.replace_epss(
        EpssFeed(source="e2", version="v2", released=NOW, scores={cves[0]: (0.1, 0.2)}), loaded_at=NOW
    )
    assert store.epss(cves) == {cves[0]: (0.1, 0.2)}  # the old table is gone, not merged
    store.replace_kev(
        KevFeed(source="k", version="1", released=None, entries={c: KevEntry(cveID=c) for c in cves}),
        loaded_at=NOW,
    )
    assert len(store.kev([c.lower() for c in cves])) == 1200
    feeds = store.feeds()
    assert (feeds["epss"].source, feeds["epss"].entries, feeds["kev"].entries) == ("e2", 1, 1200)


def test_newest_report_per_scanner_is_current_and_scanners_merge(store: VulnStore) -> None:
    snapshot = synthetic_snapshot(tags=3)
    digest = next(iter(snapshot.registries[0].manifests))
    old = parse_report(
        _grype(digest, ["CVE-2026-0001", "CVE-2026-0002"], when="2026-11-01T00:00:00Z"), source="old"
    )
    new = parse_report(
        _grype(digest, ["CVE-2026-0002"], when="2026-11-20T00:00:00Z", fixed=False), source="new"
    )
    for report in (new, old):  # stored out of order: the report's own time decides
        store.save_report(report, source="s", matched=[digest], ingested_at=NOW)
    trivy = {
        "SchemaVersion": 2,
        "ArtifactName": "x",
        "Metadata": {"RepoDigests": [f"127.0.0.1:5999/x@{digest}"]},
        "Results": [
            {
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2026-0002",
                        "PkgName": "zlib",
                        "InstalledVersion": "1",
                        "FixedVersion": "2",
                        "Severity": "CRITICAL",
                    }
                ]
            }
        ],
    }
    store.save_report(
        parse_report(json.dumps(trivy).encode(), source="t"), source="t", matched=[digest], ingested_at=NOW
    )
    triage = run_triage(store, snapshot, production_patterns=[], now=NOW, index=build_index(snapshot))
    (image,) = triage.images
    (finding,) = image.findings  # CVE-2026-0001 was fixed in the newer Grype report
    assert (finding.cve, finding.severity, finding.fix_state) == (
        "CVE-2026-0002",
        "CRITICAL",
        "fixed",
    )  # merged
    assert len(image.reports) == 2 and image.scanned_at == NOW  # the Trivy report has no CreatedAt
    assert triage.unmatched == [] and [f.loaded for f in triage.feeds] == [False, False]
    assert triage.generated_at - NOW < timedelta(seconds=1)
