"""The CISA KEV catalog and FIRST's EPSS CSV: a FeedError that keeps the loaded table, or a feed whose every
entry is a dated CVE with scores in range."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.samples import EPSS, KEV
from tests.fuzz.strategies import HOSTILE_STRINGS, bodies, fuzz_settings, truncations
from tools.errors import FeedError
from tools.vulns.feeds import parse_epss, parse_kev
from tools.vulns.service import refresh_feeds
from tools.vulns.store import VulnStore

NOW = datetime(2026, 11, 27, tzinfo=UTC)
KEV_URL, EPSS_URL = "https://feeds.example/kev.json", "https://feeds.example/epss.csv"
CVE_ROW = st.from_regex(r"CVE-[0-9]{4}-[0-9]{4,7}", fullmatch=True)
cells = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(("0.5", "1", "0", "1.0000001", "-0.0", "1_0", " 0.5 ", "0x1p-2", "nan", "inf", "1e-999")),
)
rows = st.one_of(
    st.tuples(CVE_ROW, cells, cells).map(",".join),
    st.lists(cells, max_size=5).map(",".join),
    st.sampled_from(('"', '"unterminated,0.1,0.2', "CVE-2026-0001,0.1,0.2,extra", "#comment", "\x00")),
)
heads = st.one_of(
    st.just(EPSS.split("\n", 1)[0]),
    st.sampled_from(("", "#", "#model_version:v1", "#score_date:2026-01-01", "#model_version:,score_date:")),
    st.text(max_size=40).map(lambda text: "#" + text),
)
epss_texts = st.builds(
    lambda head, header, body: f"{head}\n{header}\n" + "\n".join(body),
    heads,
    st.sampled_from(("cve,epss,percentile", "CVE,EPSS,Percentile", "cve,score", "", "cve,epss")),
    st.lists(rows, max_size=6),
)
epss_files = st.one_of(
    epss_texts.map(str.encode),
    epss_texts.map(lambda text: gzip.compress(text.encode())),
    st.just(EPSS.encode()).flatmap(truncations),
    st.just(gzip.compress(EPSS.encode())).flatmap(truncations),
    st.binary(max_size=64),
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnStore]:
    vulns = VulnStore(tmp_path_factory.mktemp("fuzz-feeds") / "regent.db")
    yield vulns
    vulns.close()


@fuzz_settings(300)
@given(data=bodies(KEV))
def test_kev_catalogs_load_whole_and_dated_or_not_at_all(data: bytes) -> None:
    try:
        feed = parse_kev(data, source="kev.json")
    except FeedError as exc:
        assert str(exc).startswith("kev.json: ") and len(str(exc)) < 1000
        return
    assert feed.entries and feed.released is not None
    for cve, entry in feed.entries.items():
        assert cve == cve.upper() and cve.startswith("CVE-") and "\n" not in cve
        assert len(entry.date_added) == 10


@fuzz_settings(300)
@given(data=epss_files)
def test_epss_files_load_dated_scores_in_range_or_not_at_all(data: bytes) -> None:
    try:
        feed = parse_epss(data, source="epss.csv")
    except FeedError as exc:
        assert str(exc).startswith("epss.csv: ") and len(str(exc)) < 1000
        return
    assert feed.scores and feed.released is not None and feed.version
    for cve, (score, percentile) in feed.scores.items():
        assert cve.startswith("CVE-") and 0.0 <= score <= 1.0 and 0.0 <= percentile <= 1.0


@fuzz_settings(100)
@given(kev=bodies(KEV), epss=epss_files)
def test_a_refused_feed_leaves_the_loaded_one_as_it_was(store: VulnStore, kev: bytes, epss: bytes) -> None:
    for url, data in ((KEV_URL, kev), (EPSS_URL, epss)):
        _load(store, {KEV_URL: json.dumps(KEV).encode(), EPSS_URL: EPSS.encode()})
        before = _tables(store)
        try:
            _load(store, {url: data})
        except FeedError:
            assert _tables(store) == before


def _tables(store: VulnStore) -> tuple[object, ...]:
    wanted = ["CVE-2021-44228", "CVE-1999-0001", "CVE-2026-0001"]
    return store.feeds(), store.kev(wanted), store.epss(wanted)


def _load(store: VulnStore, served: dict[str, bytes]) -> None:
    kev = next((url for url in served if url.endswith("kev.json")), None)
    epss = next((url for url in served if url.endswith("epss.csv")), None)
    refresh_feeds(store, kev_source=kev, epss_source=epss, now=NOW, fetch=served.__getitem__)
