"""Vulnerability reports, findings and exploitability feeds in the SQLite state database (`vuln_*` tables).

A report is stored once (keyed by the hash of its canonical JSON), in one transaction with its findings,
so a re-post is a no-op and a failure leaves nothing half-written. Feeds replace their table atomically.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime

from pydantic import BaseModel

from tools.state import StateStore
from tools.vulns.feeds import EpssFeed, KevEntry, KevFeed
from tools.vulns.reports import Finding, ParsedReport, ReportTarget

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vuln_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    scanner TEXT NOT NULL,
    scanner_version TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT,
    ingested_at TEXT NOT NULL,
    artifact_name TEXT NOT NULL,
    target TEXT NOT NULL,
    matched TEXT NOT NULL,
    findings INTEGER NOT NULL,
    skipped INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vuln_findings (
    report_id INTEGER NOT NULL REFERENCES vuln_reports(id) ON DELETE CASCADE,
    cve TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vuln_findings_report ON vuln_findings(report_id);
CREATE INDEX IF NOT EXISTS vuln_findings_cve ON vuln_findings(cve);
CREATE TABLE IF NOT EXISTS vuln_kev (cve TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vuln_epss (cve TEXT PRIMARY KEY, epss REAL NOT NULL, percentile REAL NOT NULL);
CREATE TABLE IF NOT EXISTS vuln_feeds (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    version TEXT NOT NULL,
    released TEXT,
    loaded_at TEXT NOT NULL,
    entries INTEGER NOT NULL
);
"""
_CHUNK = 500  # SQLite's default limit on bound parameters is 999


class StoredReport(BaseModel):
    """A report as stored: its identity, where it came from, and what it matched at ingest."""

    id: int
    sha256: str
    scanner: str
    scanner_version: str
    source: str
    created_at: datetime | None
    ingested_at: datetime
    target: ReportTarget
    matched: list[str]
    findings: int
    skipped: int

    @property
    def scanned_at(self) -> datetime:
        """The report's own time when it has one, else when Regent received it."""
        return self.created_at or self.ingested_at


class FeedInfo(BaseModel):
    """Which feed is loaded, from where, and how old it is."""

    name: str
    source: str
    version: str
    released: datetime | None
    loaded_at: datetime
    entries: int


class VulnStore(StateStore):
    """Reads and writes the `vuln_*` tables."""

    schema = _SCHEMA

    # -- reports ------------------------------------------------------------------------------------

    def save_report(
        self, report: ParsedReport, *, source: str, matched: list[str], ingested_at: datetime
    ) -> tuple[int, bool]:
        """Store a report and its findings in one transaction; (id, False) when it was already stored."""
        with self._transaction() as db:
            row = db.execute("SELECT id FROM vuln_reports WHERE sha256 = ?", (report.sha256,)).fetchone()
            if row:
                return int(row[0]), False
            cursor = db.execute(
                "INSERT INTO vuln_reports (sha256, scanner, scanner_version, source, created_at, ingested_at,"
                " artifact_name, target, matched, findings, skipped) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    report.sha256,
                    report.scanner,
                    report.scanner_version,
                    source,
                    report.created_at.isoformat() if report.created_at else None,
                    ingested_at.isoformat(),
                    report.target.artifact_name,
                    report.target.model_dump_json(),
                    json.dumps(sorted(matched)),
                    len(report.findings),
                    report.skipped,
                ),
            )
            report_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO vuln_findings (report_id, cve, body) VALUES (?, ?, ?)",
                ((report_id, f.cve.upper(), f.model_dump_json()) for f in report.findings),
            )
        return report_id, True

    def reports(self) -> list[StoredReport]:
        """Every stored report, oldest first."""
        rows = self._rows(
            "SELECT id, sha256, scanner, scanner_version, source, created_at, ingested_at, target, matched,"
            " findings, skipped FROM vuln_reports ORDER BY id"
        )
        return [
            StoredReport(
                id=rid,
                sha256=sha,
                scanner=scanner,
                scanner_version=version,
                source=source,
                created_at=datetime.fromisoformat(created) if created else None,
                ingested_at=datetime.fromisoformat(ingested),
                target=ReportTarget.model_validate_json(target),
                matched=json.loads(matched),
                findings=count,
                skipped=skipped,
            )
            for rid, sha, scanner, version, source, created, ingested, target, matched, count, skipped in rows
        ]

    def findings(self, report_ids: Iterable[int]) -> dict[int, list[Finding]]:
        """The findings of each given report."""
        out: dict[int, list[Finding]] = {}
        ids = sorted(set(report_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._rows(
                f"SELECT report_id, body FROM vuln_findings WHERE report_id IN ({marks})", chunk
            )
            for report_id, body in rows:
                out.setdefault(int(report_id), []).append(Finding.model_validate_json(body))
        return out

    def version(self) -> str:
        """Changes whenever a report or a feed is stored: a cache key for derived views."""
        row = self._row(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM vuln_reports),"
            " (SELECT COALESCE(MAX(loaded_at), '') FROM vuln_feeds)"
        )
        assert row is not None  # an aggregate query always returns one row
        return f"{row[0]}:{row[1]}"

    # -- feeds --------------------------------------------------------------------------------------

    def replace_kev(self, feed: KevFeed, *, loaded_at: datetime) -> None:
        """Replace the KEV catalog atomically."""
        with self._transaction() as db:
            db.execute("DELETE FROM vuln_kev")
            db.executemany(
                "INSERT INTO vuln_kev (cve, body) VALUES (?, ?)",
                ((cve, entry.model_dump_json()) for cve, entry in feed.entries.items()),
            )
            info = FeedInfo(
                name="kev",
                source=feed.source,
                version=feed.version,
                released=feed.released,
                loaded_at=loaded_at,
                entries=len(feed.entries),
            )
            _record_feed(db, info)

    def replace_epss(self, feed: EpssFeed, *, loaded_at: datetime) -> None:
        """Replace the EPSS scores atomically."""
        with self._transaction() as db:
            db.execute("DELETE FROM vuln_epss")
            db.executemany(
                "INSERT INTO vuln_epss (cve, epss, percentile) VALUES (?, ?, ?)",
                ((cve, score, pct) for cve, (score, pct) in feed.scores.items()),
            )
            info = FeedInfo(
                name="epss",
                source=feed.source,
                version=feed.version,
                released=feed.released,
                loaded_at=loaded_at,
                entries=len(feed.scores),
            )
            _record_feed(db, info)

    def feeds(self) -> dict[str, FeedInfo]:
        """Loaded feeds by name ("kev", "epss")."""
        rows = self._rows("SELECT name, source, version, released, loaded_at, entries FROM vuln_feeds")
        return {
            name: FeedInfo(
                name=name,
                source=source,
                version=version,
                released=datetime.fromisoformat(released) if released else None,
                loaded_at=datetime.fromisoformat(loaded),
                entries=entries,
            )
            for name, source, version, released, loaded, entries in rows
        }

    def kev(self, cves: Iterable[str]) -> dict[str, KevEntry]:
        """KEV entries for the given CVEs (those in the catalog)."""
        return {
            cve: KevEntry.model_validate_json(body)
            for cve, body in self._lookup("SELECT cve, body FROM vuln_kev", cves)
        }

    def epss(self, cves: Iterable[str]) -> dict[str, tuple[float, float]]:
        """EPSS (probability, percentile) for the given CVEs (those scored)."""
        return {
            cve: (float(score), float(pct))
            for cve, score, pct in self._lookup("SELECT cve, epss, percentile FROM vuln_epss", cves)
        }

    def _lookup(self, select: str, cves: Iterable[str]) -> Iterator[tuple[str, ...]]:
        wanted = sorted({cve.upper() for cve in cves})
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._rows(f"{select} WHERE cve IN ({marks})", chunk)


def _record_feed(db: sqlite3.Connection, info: FeedInfo) -> None:
    released = info.released.isoformat() if info.released else None
    db.execute(
        "INSERT OR REPLACE INTO vuln_feeds VALUES (?, ?, ?, ?, ?, ?)",
        (info.name, info.source, info.version, released, info.loaded_at.isoformat(), info.entries),
    )
