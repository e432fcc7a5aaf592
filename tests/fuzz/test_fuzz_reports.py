"""Trivy and Grype reports, as files (`regent vulns ingest`) and as decoded upload bodies (`/vulns/reports`):
a ReportError, with nothing stored, or a report whose every value is in range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given

from tests.fuzz.samples import GRYPE, TRIVY
from tests.fuzz.strategies import bodies, fuzz_settings
from tools.errors import InvalidJson, ReportError
from tools.json_input import load_json
from tools.vulns.images import ImageIndex
from tools.vulns.ingest import ingest_report
from tools.vulns.reports import ParsedReport, parse_report
from tools.vulns.store import VulnStore

NOW = datetime(2026, 11, 27, tzinfo=UTC)
reports = bodies(TRIVY, GRYPE)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnStore]:
    vulns = VulnStore(tmp_path_factory.mktemp("fuzz-reports") / "regent.db")
    yield vulns
    vulns.close()


def _check(report: ParsedReport) -> None:
    target = report.target
    assert report.scanner in ("trivy", "grype")
    assert any(
        (target.artifact_name, target.repo_tags, target.repo_digests, target.image_id, target.manifest_digest)
    )
    for finding in report.findings:
        assert finding.vulnerability_id
        assert finding.cvss is None or 0.0 <= finding.cvss <= 10.0
        assert finding.scanner_epss is None or 0.0 <= finding.scanner_epss <= 1.0
    assert report.skipped >= 0 and len(report.sha256) == 64


@fuzz_settings(300)
@given(data=reports)
def test_report_files_parse_or_say_why(data: bytes) -> None:
    try:
        report = parse_report(data, source="fuzz.json")
    except ReportError as exc:
        assert str(exc).startswith("fuzz.json: ") and len(str(exc)) < 1000
        return
    _check(report)


@fuzz_settings(150)
@given(data=reports)
def test_decoded_upload_bodies_parse_or_say_why(data: bytes) -> None:
    try:
        document = load_json(data, what="file")  # what bot/web hands on: bounded, finite, encodable
    except InvalidJson:
        return
    try:
        report = parse_report(document, source="http:ci")
    except ReportError as exc:
        assert str(exc).startswith("http:ci: ")
        return
    _check(report)


@fuzz_settings(120)
@given(data=reports)
def test_a_rejected_report_stores_nothing(store: VulnStore, data: bytes) -> None:
    before = len(store.reports())
    try:
        result = ingest_report(
            store, data, source="fuzz.json", index=ImageIndex(), now=NOW, max_bytes=1 << 22
        )
    except ReportError:
        assert len(store.reports()) == before
        return
    assert result.status in ("stored", "duplicate")
    assert len(store.reports()) == before + (result.status == "stored")
    stored = store.findings([result.report_id or 0])
    assert sum(len(findings) for findings in stored.values()) == result.findings


def test_path_ingest_turns_every_file_into_a_result(store: VulnStore, tmp_path: Path) -> None:
    from tools.vulns.ingest import ingest_paths

    (tmp_path / "deep.json").write_bytes(b"[" * 100_000)
    (tmp_path / "nan.json").write_bytes(b'{"matches": [], "x": NaN}')
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    results = ingest_paths(store, [str(tmp_path)], index=ImageIndex(), now=NOW)
    assert [(Path(r.source).name, r.status) for r in results] == [
        ("binary.json", "error"),
        ("deep.json", "error"),
        ("nan.json", "error"),
    ]
