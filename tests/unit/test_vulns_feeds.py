"""KEV and EPSS feeds: formats, dates, and errors that name the line."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools.errors import ConfigError, FeedError
from tools.vulns.feeds import parse_epss, parse_kev, read_source

EPSS = (
    "#model_version:v2025.03.14,score_date:2026-11-26T00:00:00+0000\n"
    "cve,epss,percentile\n"
    "CVE-2026-1001,0.9,0.998\n"
    "cve-2026-1002,0.00042,0.1\n"
)

META = b"#model_version:v2025.03.14,score_date:2026-11-26T00:00:00+0000\n"


def test_kev_catalog() -> None:
    document = {
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": "2026.11.25",
        "dateReleased": "2026-11-25T15:02:11.0000Z",
        "count": 1,
        "vulnerabilities": [
            {
                "cveID": "cve-2026-1001",
                "dateAdded": "2026-10-02",
                "knownRansomwareCampaignUse": "Known",
                "cwes": [],
            }
        ],
    }
    feed = parse_kev(json.dumps(document).encode(), source="kev.json")
    assert feed.version == "2026.11.25" and feed.released == datetime(2026, 11, 25, 15, 2, 11, tzinfo=UTC)
    assert feed.entries["CVE-2026-1001"].ransomware == "Known"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "KEV catalog is not valid JSON"),
        (b'{"title": "x"}', "not a CISA KEV catalog: vulnerabilities: Field required"),
        (b'{"vulnerabilities": [{"product": "x"}]}', "vulnerabilities.0.cveID: Field required"),
    ],
)
def test_kev_errors(data: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=r"kev\.json") as caught:
        parse_kev(data, source="kev.json")
    assert message in str(caught.value)


@pytest.mark.parametrize("compress", [False, True])
def test_epss_csv_plain_and_gzipped(compress: bool) -> None:
    data = gzip.compress(EPSS.encode()) if compress else EPSS.encode()
    feed = parse_epss(data, source="epss.csv.gz")
    assert feed.version == "v2025.03.14" and feed.released == datetime(2026, 11, 26, tzinfo=UTC)
    assert feed.scores == {"CVE-2026-1001": (0.9, 0.998), "CVE-2026-1002": (0.00042, 0.1)}


def test_epss_metadata_on_two_lines() -> None:
    two = "#model_version:v2023.03.01\n#score_date:2026-11-20\ncve,epss,percentile\nCVE-2026-0001,0.5,0.9\n"
    assert parse_epss(two.encode(), source="e").released == datetime(2026, 11, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (META + b"cve,score\nCVE-2026-0001,0.5\n", "e.csv: line 2: expected the header cve,epss,percentile"),
        (
            META + b"#x\ncve,epss,percentile\nCVE-2026-0001,abc,0.5\n",
            "e.csv: line 4: epss and percentile must be numbers",
        ),
        (
            META + b"cve,epss,percentile\nCVE-2026-0001,0.5,0.5\nnot-a-cve,0.1,0.1\n",
            "e.csv: line 4: expected CVE-YYYY-NNNN",
        ),
        (
            META + b"cve,epss,percentile\nCVE-2026-0001,1.5,0.5\n",
            "line 3: epss and percentile must be between 0 and 1",
        ),
        (META + b"cve,epss,percentile\n", "e.csv: EPSS file has no scores"),
        (b"\x1f\x8b\x08\x00garbage", "e.csv: corrupt gzip data"),
    ],
)
def test_epss_errors(data: bytes, message: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_epss(data, source="e.csv")
    assert message in str(caught.value)


def test_sources_are_paths_or_http_urls(tmp_path: Path) -> None:
    (tmp_path / "kev.json").write_bytes(b"{}")
    assert read_source(str(tmp_path / "kev.json")) == b"{}"
    with pytest.raises(ConfigError, match="file path or an http"):
        read_source("file:///etc/passwd")
    with pytest.raises(FeedError, match="cannot read"):
        read_source(str(tmp_path / "missing.json"))
    assert (
        read_source("https://feeds.example/kev.json", fetch=lambda url: url.encode())
        == b"https://feeds.example/kev.json"
    )
