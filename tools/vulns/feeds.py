"""Exploitability feeds: the CISA KEV catalog (JSON) and FIRST EPSS scores (CSV, optionally gzipped).

Each is read from a file or an http(s) URL the operator configured, validated completely, and returned with
its own date (KEV `dateReleased`, EPSS `score_date`) so every answer can say how old the data is.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.errors import FeedError, InvalidJson
from tools.json_input import load_json
from tools.vulns.client import fetch_bytes

MAX_FEED_BYTES = 256 * 1024 * 1024  # the full EPSS CSV is ~10 MB uncompressed; leave ample room
# ASCII digits only, to the end of the text: `\d` and `$` would also take other scripts' digits and a newline.
_CVE = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}\Z", re.IGNORECASE)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_EPSS_META = re.compile(r"(model_version|score_date)\s*:\s*([^,\s]+)")

Fetch = Callable[[str], bytes]


class KevEntry(BaseModel):
    """One catalog entry; only the fields Regent shows."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    cve: str = Field(alias="cveID", min_length=1)
    vendor_project: str = Field(default="", alias="vendorProject")
    product: str = ""
    name: str = Field(default="", alias="vulnerabilityName")
    date_added: str = Field(default="", alias="dateAdded")
    due_date: str = Field(default="", alias="dueDate")
    ransomware: str = Field(default="Unknown", alias="knownRansomwareCampaignUse")


class _KevCatalog(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    catalog_version: str = Field(default="", alias="catalogVersion")
    date_released: str = Field(default="", alias="dateReleased")
    count: int | None = None
    vulnerabilities: list[KevEntry]


class KevFeed(BaseModel):
    """The KEV catalog, keyed by upper-case CVE id."""

    source: str
    version: str
    released: datetime | None
    entries: dict[str, KevEntry]


class EpssFeed(BaseModel):
    """EPSS scores keyed by upper-case CVE id: (probability, percentile)."""

    source: str
    version: str  # model version
    released: datetime | None  # score date
    scores: dict[str, tuple[float, float]]


def read_source(source: str, *, fetch: Fetch | None = None) -> bytes:
    """Bytes of a feed from an http(s) URL or a local path; anything else is a ConfigError."""
    if source.startswith(("http://", "https://")):
        return (fetch or _default_fetch)(source)
    if "://" in source:
        raise FeedError(f"{source!r}: feeds are read from a file path or an http(s) URL")
    path = Path(source).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FeedError(f"{source}: cannot read ({exc.strerror})") from None


def _default_fetch(url: str) -> bytes:
    return fetch_bytes(url, max_bytes=MAX_FEED_BYTES)


def parse_kev(data: bytes, *, source: str) -> KevFeed:
    """Validate a KEV catalog JSON document; FeedError for anything that is not the whole, dated catalog."""
    try:
        document = load_json(_maybe_gunzip(data, source=source), what="catalog", expected="a KEV catalog")
    except InvalidJson as exc:
        raise FeedError(f"{source}: KEV catalog is not valid JSON ({exc})") from None
    try:
        catalog = _KevCatalog.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise FeedError(f"{source}: not a CISA KEV catalog: {where}: {first['msg']}") from None
    _check_kev(catalog, source)
    released = _parse_date(catalog.date_released)
    if released is None:
        raise FeedError(
            f"{source}: dateReleased {catalog.date_released[:40]!r} is not a date; "
            "the catalog's age could not be shown"
        )
    return KevFeed(
        source=source,
        version=catalog.catalog_version,
        released=released,
        entries={entry.cve.upper(): entry for entry in catalog.vulnerabilities},
    )


def _check_kev(catalog: _KevCatalog, source: str) -> None:
    # Loading replaces the whole table: an empty or cut-down list would silently drop known-exploited CVEs.
    listed = len(catalog.vulnerabilities)
    if not listed:
        raise FeedError(f"{source}: the KEV catalog lists no vulnerabilities; the loaded catalog is kept")
    if catalog.count is None:
        raise FeedError(f"{source}: the KEV catalog has no count, so it cannot be checked for completeness")
    if catalog.count != listed:
        raise FeedError(
            f"{source}: the KEV catalog says count {catalog.count} but lists {listed} vulnerabilities "
            "(a cut-off or edited file?)"
        )
    for index, entry in enumerate(catalog.vulnerabilities):
        where = f"{source}: vulnerabilities.{index}"
        if not _CVE.match(entry.cve):
            raise FeedError(f"{where}.cveID: {entry.cve[:40]!r} is not a CVE id (CVE-YYYY-NNNN)")
        for name, value in (("dateAdded", entry.date_added), ("dueDate", entry.due_date)):
            if (value or name == "dateAdded") and not _is_iso_date(value):
                raise FeedError(f"{where}.{name}: {value[:40]!r} is not a date (YYYY-MM-DD)")


def _is_iso_date(text: str) -> bool:
    if not _ISO_DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:  # 2025-02-30
        return False
    return True


def parse_epss(data: bytes, *, source: str) -> EpssFeed:
    """Validate an EPSS CSV (`#model_version:…,score_date:…` then `cve,epss,percentile`)."""
    try:
        text = _maybe_gunzip(data, source=source).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeedError(f"{source}: EPSS file is not UTF-8 text") from None
    lines = text.splitlines()
    meta, start = _epss_meta(lines)
    version, released = _epss_dated(meta, source)
    try:
        scores = _epss_scores(lines, start, source)
    except csv.Error as exc:  # a field over csv's size limit, a stray quote: not an EPSS file either way
        raise FeedError(f"{source}: not a CSV file FIRST publishes ({exc})") from None
    return EpssFeed(source=source, version=version, released=released, scores=scores)


def _epss_meta(lines: list[str]) -> tuple[dict[str, str], int]:
    """The `#key:value,…` comment lines at the top, and the index of the first line after them."""
    meta: dict[str, str] = {}
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        meta.update(dict(_EPSS_META.findall(lines[start])))
        start += 1
    return meta, start


def _epss_dated(meta: dict[str, str], source: str) -> tuple[str, datetime]:
    # FIRST's files always start with this line; without it the scores have no date, and an undated
    # feed would be shown as fresh ("0 days old") however old it is.
    if "model_version" not in meta or "score_date" not in meta:
        raise FeedError(
            f"{source}: no `#model_version:…,score_date:…` line at the top; "
            "not an EPSS file as FIRST publishes it (or its first line was cut off)"
        )
    released = _parse_date(meta["score_date"])
    if released is None:
        raise FeedError(f"{source}: score_date {meta['score_date'][:40]!r} is not a date")
    return meta["model_version"], released


def _epss_scores(lines: list[str], start: int, source: str) -> dict[str, tuple[float, float]]:
    reader = csv.reader(lines[start:])
    header = [column.strip().lower() for column in next(reader, [])]
    if header[:3] != ["cve", "epss", "percentile"]:
        raise FeedError(f"{source}: line {start + 1}: expected the header cve,epss,percentile")
    scores: dict[str, tuple[float, float]] = {}
    for number, row in enumerate(reader, start=start + 2):
        if not row:
            continue
        # The CVE and the row's length first: a cut-off last row must be an error, not an IndexError.
        cve = _epss_cve(row, source, number)
        scores[cve] = _epss_values(row, source, number)
    if not scores:
        raise FeedError(f"{source}: EPSS file has no scores")
    return scores


def _epss_cve(row: list[str], source: str, number: int) -> str:
    if len(row) < 3 or not _CVE.match(row[0].strip()):
        cut = " (the file looks cut off)" if len(row) < 3 else ""
        raise FeedError(f"{source}: line {number}: expected CVE-YYYY-NNNN,epss,percentile{cut}")
    return row[0].strip().upper()


def _epss_values(row: list[str], source: str, number: int) -> tuple[float, float]:
    try:
        epss, percentile = float(row[1]), float(row[2])
    except ValueError:
        raise FeedError(f"{source}: line {number}: epss and percentile must be numbers") from None
    if not (0.0 <= epss <= 1.0 and 0.0 <= percentile <= 1.0):  # NaN fails every comparison, so lands here
        raise FeedError(f"{source}: line {number}: epss and percentile must be between 0 and 1")
    return epss, percentile


def _maybe_gunzip(data: bytes, *, source: str) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        # Bounded: a few kilobytes of gzip can expand to gigabytes.
        plain = gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_FEED_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise FeedError(f"{source}: corrupt gzip data ({exc})") from None
    if len(plain) > MAX_FEED_BYTES:
        raise FeedError(f"{source}: more than {MAX_FEED_BYTES} bytes once decompressed")
    return plain


def _parse_date(value: str) -> datetime | None:
    if not value:
        return None
    text = value.strip()
    if len(text) == 10:  # a bare date: midnight UTC
        text += "T00:00:00+00:00"
    try:
        moment = datetime.fromisoformat(text)
        utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # a far offset near year 1 or 9999 does not fit in UTC
        return None
    return utc if 1970 <= utc.year < 9999 else None
