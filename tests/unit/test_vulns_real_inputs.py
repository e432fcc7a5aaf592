"""Issue 12, real inputs: scanner reports and feeds as the upstream tools write them, and what broke.

Each test names its case from the issue. Samples follow the upstream formats: Trivy `pkg/types` (SchemaVersion
2, `Trivy.Version`, `--show-suppressed`'s ExperimentalModifiedFindings), Grype's JSON presenter, the CISA KEV
catalog (`known_exploited_vulnerabilities.json`) and FIRST's EPSS CSV (`epss_scores-YYYY-MM-DD.csv.gz`).
"""

from __future__ import annotations

import copy
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.commands.vulns import print_report
from tests.unit.test_vulns_matching import HOST, _snapshot
from tools.errors import FeedError, ReportError
from tools.vulns.feeds import parse_epss, parse_kev
from tools.vulns.images import build_index
from tools.vulns.ingest import ingest_report
from tools.vulns.priority import ordinal
from tools.vulns.reports import parse_report
from tools.vulns.service import analyze, refresh_feeds
from tools.vulns.store import VulnStore
from tools.vulns.views import group_by_cve

NOW = datetime(2026, 11, 27, tzinfo=UTC)
DIGEST = "sha256:" + "d" * 64
KEV_URL, EPSS_URL = "https://feeds.example/kev.json", "https://feeds.example/epss.csv"
EPSS_HEAD = "#model_version:v2025.03.14,score_date:2026-11-26T00:00:00+0000\ncve,epss,percentile\n"
# Two entries as CISA publishes them (fields and formats of known_exploited_vulnerabilities.json).
KEV: dict[str, Any] = {
    "title": "CISA Catalog of Known Exploited Vulnerabilities",
    "catalogVersion": "2026.11.25",
    "dateReleased": "2026-11-25T15:02:11.0000Z",
    "count": 2,
    "vulnerabilities": [
        {
            "cveID": "CVE-2021-44228",
            "vendorProject": "Apache",
            "product": "Log4j2",
            "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
            "dateAdded": "2021-12-10",
            "shortDescription": "Apache Log4j2 contains a vulnerability where JNDI features ...",
            "requiredAction": "For all affected software assets ... apply updates per vendor instructions.",
            "dueDate": "2021-12-24",
            "knownRansomwareCampaignUse": "Known",
            "notes": "https://nvd.nist.gov/vuln/detail/CVE-2021-44228",
            "cwes": ["CWE-20", "CWE-400", "CWE-502"],
        },
        {
            "cveID": "CVE-2026-0001",
            "vendorProject": "OpenSSL",
            "product": "OpenSSL",
            "vulnerabilityName": "OpenSSL Out-of-Bounds Write",
            "dateAdded": "2026-10-02",
            "shortDescription": "",
            "requiredAction": "Apply mitigations per vendor instructions.",
            "dueDate": "2026-10-23",
            "knownRansomwareCampaignUse": "Unknown",
            "notes": "",
            "cwes": [],
        },
    ],
}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    vulns = VulnStore(tmp_path / "regent.db")
    yield vulns
    vulns.close()


def _trivy(**top: Any) -> dict[str, Any]:
    """A `trivy image -f json` report (current layout) with one finding."""
    document: dict[str, Any] = {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.58.1"},
        "CreatedAt": "2026-11-26T22:15:03.123456789Z",
        "ArtifactName": "registry.example.com/shop/api:1.4.0",
        "ArtifactType": "container_image",
        "Metadata": {
            "ImageID": "sha256:" + "c" * 64,
            "RepoTags": ["registry.example.com/shop/api:1.4.0"],
            "RepoDigests": [f"registry.example.com/shop/api@{DIGEST}"],
        },
        "Results": [
            {
                "Target": "registry.example.com/shop/api:1.4.0 (alpine 3.19.1)",
                "Class": "os-pkgs",
                "Type": "alpine",
                "Vulnerabilities": [_trivy_vuln("CVE-2026-0001", "LOW", 3.1)],
            }
        ],
    }
    document.update(top)
    return document


def _trivy_vuln(vid: str, severity: str, v3: float) -> dict[str, Any]:
    return {
        "VulnerabilityID": vid,
        "PkgName": "openssl",
        "InstalledVersion": "3.1.4-r1",
        "Severity": severity,
        "CVSS": {"nvd": {"V3Score": v3}},
    }


def _grype(source: Any) -> dict[str, Any]:
    """A `grype -o json` report with one match and the given `source` (None: no source at all)."""
    match = {
        "vulnerability": {"id": "CVE-2026-0009", "severity": "High", "fix": {"state": "not-fixed"}},
        "artifact": {"name": "zlib", "version": "1.3-r2", "type": "apk"},
    }
    document: dict[str, Any] = {"matches": [match], "descriptor": {"name": "grype", "version": "0.87.0"}}
    if source is not None:
        document["source"] = source
    return document


def _ingest(store: VulnStore, data: bytes) -> Any:
    index = build_index(_snapshot())
    return ingest_report(store, data, source="r.json", index=index, now=NOW, max_bytes=1 << 24)


def _refresh(store: VulnStore, *, kev: bytes | None = None, epss: bytes | None = None) -> None:
    served = {KEV_URL: kev, EPSS_URL: epss}

    def fetch(url: str) -> bytes:
        data = served[url]
        assert data is not None
        return data

    refresh_feeds(
        store,
        kev_source=KEV_URL if kev is not None else None,
        epss_source=EPSS_URL if epss is not None else None,
        now=NOW,
        fetch=fetch,
    )


# -- 1. an EPSS CSV cut off mid-row ---------------------------------------------------------------------


@pytest.mark.parametrize("cut", ["CVE-2026-0002,0.00042", "CVE-2026-0002,", "CVE-2026-0002"])
def test_case1_epss_cut_off_mid_row_is_refused_and_stores_nothing(store: VulnStore, cut: str) -> None:
    whole = EPSS_HEAD + "CVE-2026-0001,0.9,0.998\n" + cut
    with pytest.raises(FeedError, match="line 4: expected CVE-YYYY-NNNN,epss,percentile"):
        _refresh(store, epss=whole.encode())
    assert store.feeds() == {} and store.epss(["CVE-2026-0001"]) == {}


def test_case1_gzipped_download_cut_off_is_refused() -> None:
    data = gzip.compress((EPSS_HEAD + "CVE-2026-0001,0.9,0.998\n" * 100).encode())
    with pytest.raises(FeedError, match="corrupt gzip data"):
        parse_epss(data[: len(data) // 2], source="epss.csv.gz")


# -- 2. JSON nested 100,000 levels deep -----------------------------------------------------------------


def test_case2_deep_nesting_is_a_clear_error_for_reports_and_kev(store: VulnStore) -> None:
    deep = b'{"matches": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ReportError, match="nested deeper than 64 levels"):
        _ingest(store, deep)
    with pytest.raises(FeedError, match="nested deeper than 64 levels"):
        parse_kev(b'{"vulnerabilities": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", source="kev.json")
    assert store.reports() == []


# -- 3. CVSS scores outside 0-10 -------------------------------------------------------------------------


@pytest.mark.parametrize("score", [98, -1, 10.1])
def test_case3_trivy_cvss_out_of_range_refuses_the_report(store: VulnStore, score: float) -> None:
    document = _trivy()
    document["Results"][0]["Vulnerabilities"][0]["CVSS"]["nvd"]["V3Score"] = score
    with pytest.raises(
        ReportError, match=r"Results\.0\.Vulnerabilities\.0\.CVSS\.nvd\.V3Score: Input should be"
    ):
        _ingest(store, json.dumps(document).encode())
    assert store.reports() == []


def test_case3_grype_cvss_out_of_range_refuses_the_report() -> None:
    document = _grype({"type": "image", "target": {"userInput": "shop/api:1", "imageID": DIGEST}})
    document["matches"][0]["vulnerability"]["cvss"] = [{"version": "3.1", "metrics": {"baseScore": 98.0}}]
    with pytest.raises(
        ReportError, match=r"cvss\.0\.metrics\.baseScore: Input should be less than or equal to 10"
    ):
        parse_report(json.dumps(document).encode(), source="g.json")


def test_case3_boundary_scores_are_kept() -> None:
    document = _trivy()
    document["Results"][0]["Vulnerabilities"] = [_trivy_vuln("CVE-2026-0001", "LOW", 0.0)]
    document["Results"][0]["Vulnerabilities"].append(_trivy_vuln("CVE-2026-0002", "CRITICAL", 10.0))
    scores = [f.cvss for f in parse_report(json.dumps(document).encode(), source="t").findings]
    assert scores == [0.0, 10.0]


# -- 4. a Grype report that names no image --------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        None,
        {"type": "image"},
        {"type": "image", "target": None},
        {"type": "image", "target": {}},
        {"target": ""},
    ],
)
def test_case4_grype_without_source_target_is_refused(store: VulnStore, source: Any) -> None:
    with pytest.raises(
        ReportError, match=r"the grype report names no image \(source\.target missing or empty\)"
    ):
        _ingest(store, json.dumps(_grype(source)).encode())
    assert store.reports() == []


def test_case4_trivy_that_names_no_image_is_refused() -> None:
    document = _trivy(ArtifactName="", Metadata={})
    with pytest.raises(ReportError, match="the trivy report names no image"):
        parse_report(json.dumps(document).encode(), source="t.json")


# -- 5. Trivy's SchemaVersion ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "shown"), [(1, "1"), (3, "3"), ("2", "'2'"), (2.0, "2.0"), (True, "True")]
)
def test_case5_trivy_schema_versions_other_than_2_are_refused(version: Any, shown: str) -> None:
    with pytest.raises(ReportError, match=f"t.json: SchemaVersion {shown}; only Trivy's current JSON schema"):
        parse_report(json.dumps(_trivy(SchemaVersion=version)).encode(), source="t.json")


def test_case5_missing_schema_version_is_refused() -> None:
    document = _trivy()
    del document["SchemaVersion"]
    with pytest.raises(ReportError, match="SchemaVersion missing"):
        parse_report(json.dumps(document).encode(), source="t.json")


# -- 6. `trivy image --show-suppressed` -----------------------------------------------------------------


def test_case6_suppressed_findings_are_counted_as_skipped() -> None:
    document = _trivy()
    # As `trivy image --show-suppressed -f json` writes them (pkg/types/finding.go ModifiedFinding).
    document["Results"][0]["ExperimentalModifiedFindings"] = [
        {
            "Type": "vulnerability",
            "Status": "ignored",
            "Statement": "accepted while the fix is unreleased",
            "Source": ".trivyignore.yaml",
            "Finding": _trivy_vuln("CVE-2026-0002", "CRITICAL", 9.8),
        },
        {
            "Type": "vulnerability",
            "Status": "not_affected",
            "Statement": "vulnerable_code_not_in_execute_path",
            "Source": "openvex.json",
            "Finding": _trivy_vuln("CVE-2026-0003", "HIGH", 7.5),
        },
        {"Type": "secret", "Status": "ignored", "Source": ".trivyignore", "Finding": {"RuleID": "aws-key"}},
    ]
    report = parse_report(json.dumps(document).encode(), source="t.json")
    assert [f.cve for f in report.findings] == ["CVE-2026-0001"]
    assert report.skipped == 2  # the two vulnerabilities; a suppressed secret is not a finding Regent keeps


# -- 9. feeds checked loosely ----------------------------------------------------------------------------


def _kev(**changes: Any) -> bytes:
    document = copy.deepcopy(KEV)
    document.update(changes)
    return json.dumps(document).encode()


def _kev_entry(**changes: Any) -> bytes:
    document = copy.deepcopy(KEV)
    document["vulnerabilities"][1].update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _kev(vulnerabilities=[], count=0),
            "the KEV catalog lists no vulnerabilities; the loaded catalog is kept",
        ),
        (_kev(count=1500), "says count 1500 but lists 2 vulnerabilities"),
        (_kev(count=None), "has no count"),
        (_kev_entry(cveID="not-a-cve"), "vulnerabilities.1.cveID: 'not-a-cve' is not a CVE id"),
        (_kev_entry(cveID="CVE-2026-0001\n"), "is not a CVE id"),
        (
            _kev_entry(dateAdded="2025/08/25"),
            "vulnerabilities.1.dateAdded: '2025/08/25' is not a date (YYYY-MM-DD)",
        ),
        (_kev_entry(dateAdded=""), "vulnerabilities.1.dateAdded: '' is not a date"),
        (_kev_entry(dueDate="2025-02-30"), "vulnerabilities.1.dueDate: '2025-02-30' is not a date"),
        (_kev(dateReleased="yesterday"), "dateReleased 'yesterday' is not a date"),
    ],
)
def test_case9_loose_kev_catalogs_are_refused_and_the_loaded_one_is_kept(
    store: VulnStore, data: bytes, message: str
) -> None:
    _refresh(store, kev=_kev())
    before = store.kev(["CVE-2021-44228", "CVE-2026-0001"])
    with pytest.raises(FeedError) as caught:
        _refresh(store, kev=data)
    assert message in str(caught.value) and KEV_URL in str(caught.value)
    assert store.kev(["CVE-2021-44228", "CVE-2026-0001"]) == before and len(before) == 2
    assert store.feeds()["kev"].entries == 2


def test_case9_the_real_catalog_shape_loads() -> None:
    feed = parse_kev(_kev(), source="kev.json")
    assert sorted(feed.entries) == ["CVE-2021-44228", "CVE-2026-0001"]
    assert feed.released == datetime(2026, 11, 25, 15, 2, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("cve,epss,percentile\n", "no `#model_version:…,score_date:…` line at the top"),
        ("#model_version:v2025.03.14\ncve,epss,percentile\n", "no `#model_version:…,score_date:…` line"),
        (
            "#model_version:v2025.03.14,score_date:soon\ncve,epss,percentile\n",
            "score_date 'soon' is not a date",
        ),
    ],
)
def test_case9_epss_without_its_dated_first_line_is_refused(
    store: VulnStore, head: str, message: str
) -> None:
    with pytest.raises(FeedError, match=message):
        _refresh(store, epss=(head + "CVE-2026-0001,0.9,0.998\n").encode())
    assert store.feeds() == {}


# -- 10. smaller ones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"), (22, "22nd")],
)
def test_case10_percentile_ordinals(number: int, text: str) -> None:
    assert ordinal(number) == text


def test_case10_the_reason_says_2nd_percentile(store: VulnStore) -> None:
    _ingest(store, json.dumps(_trivy(ArtifactName=f"{HOST}/tool:2.0", Metadata={})).encode())
    _refresh(store, epss=(EPSS_HEAD + "CVE-2026-0001,0.0004,0.02\n").encode())
    triage = analyze(store, _snapshot(), production_patterns=[], approved_bases=[], now=NOW).triage
    assert "EPSS 0.000, 2nd percentile" in triage.findings[0].reason


def test_case10_trivy_version_is_stored(store: VulnStore) -> None:
    assert parse_report(json.dumps(_trivy()).encode(), source="t").scanner_version == "0.58.1"
    _ingest(store, json.dumps(_trivy()).encode())
    assert [r.scanner_version for r in store.reports()] == ["0.58.1"]


def test_case10_a_moved_tag_note_is_printed_once(store: VulnStore) -> None:
    # Trivy names the tag in ArtifactName and again in RepoTags; the tag now points at another image.
    tag = f"{HOST}/tool:2.0"
    scanned = "sha256:" + "e" * 64  # the config the tag pointed at when scanned; no longer in the registry
    document = _trivy(ArtifactName=tag, Metadata={"ImageID": scanned, "RepoTags": [tag]})
    assert _ingest(store, json.dumps(document).encode()).match == "unmatched"
    analysis = analyze(store, _snapshot(), production_patterns=[], approved_bases=[], now=NOW)
    out = io.StringIO()
    print_report(analysis, limit=5, file=out)
    printed = " ".join(out.getvalue().split())  # rich wraps long lines
    assert printed.count("now points at a different image than the one scanned") == 1


def test_case10_vendor_advisory_ids_keep_their_case_and_cve_ids_are_upper_cased(store: VulnStore) -> None:
    document = _trivy(ArtifactName=f"{HOST}/tool:2.0", Metadata={})
    document["Results"][0]["Vulnerabilities"] = [
        _trivy_vuln("openSUSE-SU-2024:0123-1", "HIGH", 7.5),
        _trivy_vuln("cve-2026-0007", "LOW", 2.0),
    ]
    _ingest(store, json.dumps(document).encode())
    analysis = analyze(store, _snapshot(), production_patterns=[], approved_bases=[], now=NOW)
    assert [g.cve for g in group_by_cve(analysis.triage.findings)] == [
        "openSUSE-SU-2024:0123-1",
        "CVE-2026-0007",
    ]
    out = io.StringIO()
    print_report(analysis, limit=5, file=out)
    assert "openSUSE-SU-2024:0123-1" in out.getvalue() and "OPENSUSE" not in out.getvalue()


# -- found by fuzzing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "created", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
)
def test_report_times_utc_cannot_hold_count_as_unknown(created: str) -> None:
    # Go's zero time means "not set"; the far offsets used to overflow later, in any UTC conversion.
    report = parse_report(json.dumps(_trivy(CreatedAt=created)).encode(), source="t.json")
    assert report.created_at is None


def test_a_kev_release_date_utc_cannot_hold_is_refused() -> None:
    with pytest.raises(FeedError, match="dateReleased '0001-01-01T00:00:00\\+14:00' is not a date"):
        parse_kev(_kev(dateReleased="0001-01-01T00:00:00+14:00"), source="kev.json")


def test_an_epss_field_over_the_csv_size_limit_is_a_feed_error() -> None:
    # csv refuses fields over 128 KiB with csv.Error, which nothing caught: exit 70.
    with pytest.raises(FeedError, match="not a CSV file FIRST publishes"):
        parse_epss((EPSS_HEAD + "CVE-2026-0001," + "9" * 200_000 + ",0.5\n").encode(), source="e.csv")
