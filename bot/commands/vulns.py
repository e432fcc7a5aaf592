"""`regent vulns`: ingest scanner reports, load KEV/EPSS, show what to fix first and which bases to upgrade.

Heavy imports happen inside the command functions so `regent --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings
    from tools.inventory.models import InventorySnapshot
    from tools.vulns.service import Analysis
    from tools.vulns.store import VulnStore
    from tools.vulns.triage import FeedAge


def add_vulns_parser(sub: Any) -> None:
    """Register `regent vulns …` on the top-level subparsers."""
    vulns = sub.add_parser(
        "vulns", help="vulnerability reports: ingest, feeds, what to fix first, base upgrades"
    )
    vulns.add_argument("--config", help="configuration file (default: $REGENT_CONFIG or ./regent.yml)")
    actions = vulns.add_subparsers(dest="vulns_command", required=True, metavar="ACTION")
    ingest = actions.add_parser("ingest", help="store Trivy/Grype JSON reports (files or directories)")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--json", action="store_true", help="print one JSON document")
    feeds = actions.add_parser("feeds", help="load the CISA KEV catalog and EPSS scores (config or flags)")
    feeds.add_argument("--kev", metavar="PATH|URL", help="KEV JSON (default: vulns.kev from the config)")
    feeds.add_argument("--epss", metavar="PATH|URL", help="EPSS CSV (default: vulns.epss from the config)")
    feeds.add_argument("--json", action="store_true", help="print one JSON document")
    report = actions.add_parser("report", help="what to fix first: per CVE, per image, unmatched reports")
    report.add_argument("--cve", help="details of one CVE instead of the overview")
    report.add_argument("--limit", type=int, default=20, help="rows per table (default 20)")
    report.add_argument("--json", action="store_true", help="print one JSON document")
    bases = actions.add_parser("bases", help="findings from base images and newer bases that remove them")
    bases.add_argument("--json", action="store_true", help="print one JSON document")


def run_vulns_command(args: argparse.Namespace) -> int:
    """Dispatch `regent vulns ACTION`."""
    from bot.app import app_from_env
    from tools.vulns.store import VulnStore

    app = app_from_env(config=args.config)
    settings = app.settings
    store = VulnStore(app.db_path)
    try:
        if args.vulns_command == "ingest":
            return _ingest(args, settings, store, app.latest_snapshot())
        if args.vulns_command == "feeds":
            return _feeds(args, settings, store)
        analysis = analyze_latest(settings, store, app.latest_snapshot())
        if args.vulns_command == "bases":
            return _bases(args, analysis)
        return _report(args, analysis, store)
    finally:
        store.close()
        app.close()


def analyze_latest(settings: Settings, store: VulnStore, snapshot: InventorySnapshot | None) -> Analysis:
    """Triage the stored reports against the latest snapshot with the configured production globs."""
    from tools.vulns.service import analyze

    return analyze(
        store,
        snapshot,
        production_patterns=settings.environments.get("production", []),
        approved_bases=settings.vulns.approved_bases,
        now=datetime.now(UTC),
    )


def _ingest(
    args: argparse.Namespace, settings: Settings, store: VulnStore, snapshot: InventorySnapshot | None
) -> int:
    from tools.vulns.images import ImageIndex, build_index
    from tools.vulns.ingest import ingest_paths

    index = build_index(snapshot) if snapshot is not None else ImageIndex()
    results = ingest_paths(
        store, args.paths, index=index, now=datetime.now(UTC), max_bytes=settings.vulns.max_report_bytes
    )
    if args.json:
        print(json.dumps({"reports": [r.model_dump(mode="json") for r in results]}, indent=2))
    else:
        for r in results:
            if r.status == "error":
                print(f"error      {r.error}")
                continue
            target = ", ".join(r.matched) or f"unmatched ({r.artifact_name or 'no image name'})"
            print(f"{r.status:<10} {r.scanner:<5} {r.source}: {r.findings} findings -> {target}")
        if snapshot is None:
            print("note: no inventory snapshot yet; run `regent inventory` to match reports to images")
    return 1 if any(r.status == "error" for r in results) else 0


def _feeds(args: argparse.Namespace, settings: Settings, store: VulnStore) -> int:
    from tools.errors import ConfigError
    from tools.vulns.service import refresh_feeds
    from tools.vulns.triage import feed_ages

    kev, epss = args.kev or settings.vulns.kev, args.epss or settings.vulns.epss
    if not kev and not epss:
        raise ConfigError("no feed to load: set vulns.kev / vulns.epss in the config or pass --kev / --epss")
    now = datetime.now(UTC)
    refresh_feeds(store, kev_source=kev, epss_source=epss, now=now)
    ages = feed_ages(store.feeds(), now=now)
    if args.json:
        print(json.dumps({"feeds": [a.model_dump(mode="json") for a in ages]}, indent=2))
    else:
        for age in ages:
            print(_age_line(age))
    return 0


def _age_line(age: FeedAge) -> str:
    if not age.loaded:
        return f"{age.name:<5} not loaded"
    released = age.released.date().isoformat() if age.released else "undated"
    days = f"{age.age_days:g} days old" if age.age_days is not None else "age unknown"
    return f"{age.name:<5} {age.entries} entries, dated {released} ({days}), from {age.source}"


def _report(args: argparse.Namespace, analysis: Analysis, store: VulnStore) -> int:
    from tools.vulns.service import describe_cve
    from tools.vulns.views import group_by_cve, group_by_image

    triage = analysis.triage
    if args.cve:
        detail = describe_cve(analysis, store, args.cve)
        print(json.dumps(detail.model_dump(mode="json"), indent=2))
        return 0 if detail.found else 1
    cves, images = group_by_cve(triage.findings), group_by_image(triage)
    if args.json:
        document = {
            "generated_at": triage.generated_at.isoformat(),
            "formula": triage.formula,
            "cves": [c.model_dump(mode="json") for c in cves[: args.limit]],
            "cve_count": len(cves),
            "images": [i.model_dump(mode="json") for i in images[: args.limit]],
            "image_count": len(images),
            "findings": [f.model_dump(mode="json") for f in triage.findings[: args.limit]],
            "finding_count": len(triage.findings),
            "unmatched": [u.model_dump(mode="json") for u in triage.unmatched],
            "feeds": [f.model_dump(mode="json") for f in triage.feeds],
        }
        print(json.dumps(document, indent=2))
        return 0
    print_report(analysis, limit=args.limit)
    return 0


def print_report(analysis: Analysis, *, limit: int, file: Any = None) -> None:
    """Fix-first CVEs, images, unmatched reports and feed ages as terminal tables."""
    from rich.console import Console

    triage = analysis.triage
    console = Console(file=file or sys.stdout, width=160)
    console.print(_cve_table(analysis, limit=limit))
    console.print(_image_table(analysis, limit=limit))
    for report in triage.unmatched:
        console.print(
            f"unmatched: {report.scanner} report #{report.report_id} for {report.artifact_name or '?'} "
            f"({report.findings} findings): {report.note}",
            markup=False,
            highlight=False,
        )
    for age in triage.feeds:
        console.print(_age_line(age), markup=False, highlight=False)


def _cve_table(analysis: Analysis, *, limit: int) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from tools.vulns.views import group_by_cve

    table = Table(title="Fix first", title_justify="left")
    for column in ("prio", "cve", "signal", "package", "fix", "images", "environments"):
        table.add_column(column)
    for group in group_by_cve(analysis.triage.findings)[:limit]:
        signal = (
            "KEV" if group.kev else f"EPSS {group.epss:.3f}" if group.epss is not None else group.severity
        )
        fix = ", ".join(group.fixed_versions[:2]) if group.fixable else "-"
        # Names come from registries and uploaded reports: never let them be markup.
        cve, package, images = (
            escape(text) for text in (group.cve, group.packages[0], ", ".join(group.images[:3]))
        )
        where = escape(", ".join(group.environments) or "-")
        table.add_row(group.priority, cve, signal, package, escape(fix), images, where)
    return table


def _image_table(analysis: Analysis, *, limit: int) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from tools.vulns.views import group_by_image

    table = Table(title="Images", title_justify="left")
    for column in ("image", "exposure", "P1", "P2", "P3", "P4", "P5", "KEV", "fixable", "from base"):
        table.add_column(column)
    for image in group_by_image(analysis.triage)[:limit]:
        counts = [str(image.by_priority[p]) for p in ("P1", "P2", "P3", "P4", "P5")]
        figures = (str(image.known_exploited), str(image.fixable), str(image.from_base))
        table.add_row(escape(image.image), image.exposure, *counts, *figures)
    return table


def _bases(args: argparse.Namespace, analysis: Analysis) -> int:
    upgrades = analysis.upgrades
    if args.json:
        print(json.dumps({"upgrades": [u.model_dump(mode="json") for u in upgrades]}, indent=2))
        return 0
    for u in upgrades:
        if u.suggested_base is None:
            print(f"{u.image}: base {u.current_base}; {u.note}")
            continue
        change = (
            f"removes {u.removes} of {u.base_findings} base findings, introduces {u.introduces}"
            if u.removes is not None
            else u.note
        )
        print(f"{u.image}: {u.current_base} -> {u.suggested_base} ({u.suggested_from}): {change}")
    return 0
