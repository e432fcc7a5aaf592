"""Ingest reports from files, directories or request bodies: validate fully, match, store in one transaction.

Each report is all-or-nothing: it is parsed and validated completely before the single write transaction,
so a bad or truncated file changes nothing. A report that matches no image is stored anyway and said to be
unmatched: the image may be pushed later, or the report may describe a base image kept elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from tools.errors import ConfigError, ReportError
from tools.vulns.images import ImageIndex
from tools.vulns.matching import match_target
from tools.vulns.reports import parse_report
from tools.vulns.store import VulnStore

DEFAULT_MAX_REPORT_BYTES = 64 * 1024 * 1024


class IngestedReport(BaseModel):
    """What happened to one report."""

    source: str
    status: Literal["stored", "duplicate", "error"]
    report_id: int | None = None
    scanner: str = ""
    artifact_name: str = ""
    findings: int = 0
    matched: list[str] = []  # image names in the inventory
    matched_digests: list[str] = []
    match: str = ""  # how it matched, or "unmatched"
    note: str = ""
    error: str = ""


def ingest_report(
    store: VulnStore, data: object, *, source: str, index: ImageIndex, now: datetime, max_bytes: int
) -> IngestedReport:
    """Validate, match and store one report (bytes or decoded JSON); ReportError, nothing written, if not."""
    if isinstance(data, bytes) and len(data) > max_bytes:  # decoded JSON was measured as a request body
        raise ReportError(f"{source}: {len(data)} bytes is more than the limit of {max_bytes}")
    report = parse_report(data, source=source)
    match = match_target(report.target, index)
    report_id, created = store.save_report(report, source=source, matched=match.digests, ingested_at=now)
    return IngestedReport(
        source=source,
        status="stored" if created else "duplicate",
        report_id=report_id,
        scanner=report.scanner,
        artifact_name=report.target.artifact_name,
        findings=len(report.findings),
        matched=[index.name_of(d) for d in match.digests],
        matched_digests=match.digests,
        match=match.how,
        note=match.note,
    )


def ingest_paths(
    store: VulnStore,
    paths: Iterable[str],
    *,
    index: ImageIndex,
    now: datetime,
    max_bytes: int = DEFAULT_MAX_REPORT_BYTES,
) -> list[IngestedReport]:
    """Ingest files and every `*.json` under directories; each file succeeds or fails on its own."""
    results: list[IngestedReport] = []
    for file in expand_paths(paths, results):
        try:
            size = file.stat().st_size
            if size > max_bytes:
                raise ReportError(f"{file}: {size} bytes is more than the limit of {max_bytes}")
            data = file.read_bytes()
            results.append(
                ingest_report(store, data, source=str(file), index=index, now=now, max_bytes=max_bytes)
            )
        except OSError as exc:
            results.append(IngestedReport(source=str(file), status="error", error=f"{file}: {exc.strerror}"))
        except ConfigError as exc:
            results.append(IngestedReport(source=str(file), status="error", error=str(exc)))
    return results


def expand_paths(paths: Iterable[str], errors: list[IngestedReport]) -> list[Path]:
    """Files as given plus `*.json` found under directories (sorted); missing paths become errors."""
    files: list[Path] = []
    for text in paths:
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                errors.append(IngestedReport(source=text, status="error", error=f"{text}: no *.json files"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            errors.append(IngestedReport(source=text, status="error", error=f"{text}: no such file"))
    return files
