"""The assistant's vulnerability tools through the real Toolbox dispatch, on the crawled estate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.vulns.estate import Estate, regent
from tools.inventory.store import SnapshotStore
from tools.toolbox.context import ToolContext
from tools.toolbox.dispatch import Toolbox
from tools.vulns.service import VulnsAccess


@pytest.fixture
def toolbox(estate: Estate, state: Path) -> Toolbox:
    for args in (("feeds",), ("ingest", str(estate.reports))):
        done = regent("vulns", *args, state=state, config=estate.config)
        assert done.returncode == 0, done.stderr
    snapshots = SnapshotStore(state / "regent.db")
    snapshot = snapshots.latest()
    snapshots.close()
    access = VulnsAccess(
        db_path=state / "regent.db",
        production_patterns=["prod-*"],
        approved_bases=["docker.io/library/debian:13-slim"],
    )
    return Toolbox(ToolContext(snapshot=lambda: snapshot, vulns=access))


def _call(toolbox: Toolbox, name: str, **arguments: Any) -> dict[str, Any]:
    outcome = toolbox.call(name, json.dumps(arguments), user="U1", conversation="C1")
    data: dict[str, Any] = json.loads(outcome.content)
    assert outcome.ok, data
    return data


def test_vulnerability_report_groups_filters_and_bounds(toolbox: Toolbox) -> None:
    report = _call(toolbox, "vulnerability_report")
    first = report["cves"][0]
    assert (first["cve"], first["priority"], first["known_exploited"], first["environments"]) == (
        "CVE-2026-1001",
        "P1",
        True,
        ["prod-eu"],
    )
    assert first["reason"].startswith("known exploited (CISA KEV, added 2026-10-02, used in ransomware")
    assert report["feeds"][0].startswith("kev: 2 entries") and len(report["unmatched_reports"]) == 2
    urgent = _call(toolbox, "vulnerability_report", min_priority="P2")
    assert [c["cve"] for c in urgent["cves"]] == ["CVE-2026-1001", "CVE-2026-2001", "CVE-2026-1002"]
    staging = _call(toolbox, "vulnerability_report", environment="staging", group_by="image")
    assert [i["image"] for i in staging["images"]] == ["shop/web:2.1.0"]
    cut = _call(toolbox, "vulnerability_report", limit=1)
    assert cut["truncated"] is True and cut["note"].startswith("showing 1 of 9 CVEs")


def test_get_cve_and_base_upgrades(toolbox: Toolbox) -> None:
    cve = _call(toolbox, "get_cve", cve="cve-2026-1001")
    assert (
        cve["found"],
        cve["known_exploited"],
        cve["kev_date_added"],
        cve["kev_ransomware"],
        cve["epss"],
    ) == (
        True,
        True,
        "2026-10-02",
        True,
        0.9,
    )
    assert [(i["image"], i["exposure"], i.get("from_base_image")) for i in cve["images"]] == [
        ("shop/api:1.4.0", "production", True),
        ("platform/base:alpine-3.19.1", "unused", None),
    ]
    missing = _call(toolbox, "get_cve", cve="CVE-2001-0001")
    assert missing["found"] is False and "no current report lists CVE-2001-0001" in missing["note"]
    upgrades = _call(toolbox, "suggest_base_upgrade", image="shop/*")["upgrades"]
    assert [(u["image"], u.get("removes")) for u in upgrades] == [
        ("shop/api:1.2.0", 2),
        ("shop/web:2.1.0", 1),
        ("shop/api:1.4.0", None),
    ]


def test_not_configured_is_an_error_the_model_can_explain() -> None:
    toolbox = Toolbox(ToolContext(snapshot=lambda: None))
    outcome = toolbox.call("vulnerability_report", "{}", user="U1", conversation="C1")
    assert outcome.error == "failed" and "not configured" in json.loads(outcome.content)["error"]
