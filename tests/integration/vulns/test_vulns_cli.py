"""`regent vulns` end to end: real registry, real dockerd behind a fake Portainer, real report formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.vulns.estate import Estate, regent
from tests.vulns.scanner import Vuln, read_image, trivy_report
from tools.vulns.store import VulnStore


def _run(estate: Estate, state: Path, *args: str) -> dict[str, Any]:
    done = regent("vulns", *args, "--json", state=state, config=estate.config)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _ingested(estate: Estate, state: Path) -> dict[str, Any]:
    _run(estate, state, "feeds")
    return _run(estate, state, "ingest", str(estate.reports))


def test_ingest_matches_every_report_and_keeps_the_unmatched(estate: Estate, state: Path) -> None:
    out = _ingested(estate, state)
    by_file = {Path(r["source"]).name: r for r in out["reports"]}
    assert {name: (r["status"], r["matched"], r["match"]) for name, r in by_file.items()} == {
        # scanned by tag: Trivy's RepoDigests still carry the digest the tag resolved to
        "shop-api-1.4.0.trivy.json": ("stored", ["shop/api:1.4.0"], "manifest digest"),
        "shop-api-1.4.0.grype.json": ("stored", ["shop/api:1.4.0"], "manifest digest"),
        "shop-api-1.2.0.grype.json": ("stored", ["shop/api:1.2.0"], "manifest digest"),
        "base-alpine-3.19.1.trivy.json": ("stored", ["platform/base:alpine-3.19.1"], "manifest digest"),
        # scanned by tag of an index: RepoDigests name the index, ImageID picks the platform child
        "worker-amd64.trivy.json": (
            "stored",
            ["team-x/worker:1.0.0 [linux/amd64]"],
            "index child by config digest",
        ),
        # scanned by the arm64 child's digest: matched directly
        "worker-arm64.grype.json": ("stored", ["team-x/worker:1.0.0 [linux/arm64]"], "manifest digest"),
        "shop-web-2.1.0.trivy.json": ("stored", ["shop/web:2.1.0"], "manifest digest"),
        # deleted from the registry after the scan, and an image only on Docker Hub: kept, unmatched
        "gone-shop-api-0.9.0.trivy.json": ("stored", [], "unmatched"),
        "debian-13-slim.trivy.json": ("stored", [], "unmatched"),
    }
    assert by_file["shop-api-1.4.0.trivy.json"]["matched_digests"] == [estate.digests["shop/api:1.4.0"]]
    worker_amd64 = estate.scanned["team-x/worker:1.0.0"].manifest_digest
    assert by_file["worker-amd64.trivy.json"]["matched_digests"] == [worker_amd64]
    again = _run(estate, state, "ingest", str(estate.reports))
    assert {r["status"] for r in again["reports"]} == {"duplicate"}
    store = VulnStore(state / "regent.db")
    try:
        assert len(store.reports()) == 9
    finally:
        store.close()


def test_priority_order_reasons_and_groups(estate: Estate, state: Path) -> None:
    _ingested(estate, state)
    report = _run(estate, state, "report", "--limit", "50")
    top = [(f["priority"], f["score"], f["cve"], f["image"]) for f in report["findings"][:6]]
    assert top == [
        ("P1", 747.0, "CVE-2026-1001", "shop/api:1.4.0"),  # KEV, CVSS 9.8, production
        ("P2", 298.5, "CVE-2026-2001", "shop/api:1.4.0"),  # EPSS 0.62, production
        ("P2", 249.0, "CVE-2026-1001", "platform/base:alpine-3.19.1"),  # KEV but nothing runs it
        ("P2", 240.5, "CVE-2026-1002", "shop/api:1.2.0"),  # KEV, unused
        ("P3", 105.0, "CVE-2026-6001", "team-x/worker:1.0.0 [linux/amd64]"),  # no EPSS, production
        ("P3", 91.0, "CVE-2026-7001", "shop/web:2.1.0"),  # critical, runs in staging only
    ]
    first = report["findings"][0]
    assert first["reason"] == (
        "known exploited (CISA KEV, added 2026-10-02, used in ransomware campaigns); CRITICAL with CVSS 9.8; "
        "runs in production (prod-eu); fixed in 3.1.4-r5 → (400 + 98) * 1.5 * 1 = 747 (P1)"
    )
    by_cve = {c["cve"]: c for c in report["cves"]}
    # Grype reported CVE-2026-2001 under a GHSA id: one finding, merged with Trivy's
    assert report["finding_count"] == 3 + 4 + 2 + 1 + 1 + 1
    assert by_cve["CVE-2026-2001"]["findings"] == 1
    assert by_cve["CVE-2026-1001"]["images"] == ["platform/base:alpine-3.19.1", "shop/api:1.4.0"]
    assert by_cve["CVE-2026-1001"]["environments"] == ["prod-eu"]
    assert by_cve["CVE-2026-3001"]["images"] == [
        "platform/base:alpine-3.19.1",
        "shop/api:1.2.0",
        "shop/api:1.4.0",
    ]
    assert (
        "EPSS 0.001" in by_cve["CVE-2026-3001"]["reason"]
        and "no fix released yet" in by_cve["CVE-2026-3001"]["reason"]
    )
    assert by_cve["CVE-2026-6002"]["reason"].startswith(
        "not known exploited, no EPSS score; HIGH with CVSS 7.2"
    )
    assert "vendor will not fix" in by_cve["CVE-2026-6002"]["reason"]
    assert {u["artifact_name"] for u in report["unmatched"]} == {
        "docker.io/library/debian:13-slim",
        f"{estate.registry.host}/shop/api:0.9.0",
    }
    assert [(f["name"], f["loaded"]) for f in report["feeds"]] == [("kev", True), ("epss", True)]
    text = regent("vulns", "report", state=state, config=estate.config, extra_env={"COLUMNS": "200"}).stdout
    assert text.index("CVE-2026-1001") < text.index("CVE-2026-2001") < text.index("CVE-2026-1002")
    assert "team-x/worker:1.0.0 [linux/amd64]" in text  # registry names are never terminal markup
    assert "unmatched: trivy report" in text and "kev   2 entries, dated 2026-11-25" in text
    assert all(f["age_days"] is not None for f in report["feeds"])


def test_exposure_multi_arch_and_stopped_containers(
    estate: Estate, state: Path, http_client: Any, tmp_path: Path
) -> None:
    host = estate.registry.host
    old = read_image(http_client, estate.registry.url, host, f"{host}/shop/api:1.3.0")
    path = tmp_path / "shop-api-1.3.0.json"
    path.write_text(json.dumps(trivy_report(old, [Vuln("CVE-2026-8001", "zlib", "1.3-r2", 1, "HIGH", 8.0)])))
    _ingested(estate, state)
    _run(estate, state, "ingest", str(path))
    report = _run(estate, state, "report", "--limit", "50")
    exposure = {i["image"]: (i["exposure"], i["environments"]) for i in report["images"]}
    assert exposure == {
        "shop/api:1.4.0": ("production", ["prod-eu"]),
        "team-x/worker:1.0.0 [linux/amd64]": ("production", ["prod-eu"]),  # the engine ran the amd64 child
        "team-x/worker:1.0.0 [linux/arm64]": ("unused", []),
        "shop/web:2.1.0": ("running", ["staging"]),  # a pod in a non-production environment
        "shop/api:1.3.0": ("stopped", []),  # a created, never started container
        "shop/api:1.2.0": ("unused", []),
        "platform/base:alpine-3.19.1": ("unused", []),
    }
    stopped = next(f for f in report["findings"] if f["cve"] == "CVE-2026-8001")
    assert "only in stopped containers" in stopped["reason"] and stopped["score"] == round(80 * 0.75 * 0.9, 1)


def test_base_attribution_and_upgrade_suggestions(estate: Estate, state: Path) -> None:
    _ingested(estate, state)
    report = _run(estate, state, "report", "--limit", "50")
    origin = {(f["cve"], f["image"]): (f["from_base"], f["base"]) for f in report["findings"]}
    assert origin[("CVE-2026-1001", "shop/api:1.4.0")] == (True, "platform/base:alpine-3.19.1")
    assert origin[("CVE-2026-2001", "shop/api:1.4.0")] == (False, "platform/base:alpine-3.19.1")  # own layer
    assert origin[("CVE-2026-5001", "shop/api:1.2.0")] == (False, "platform/base:alpine-3.19.0")
    assert origin[("CVE-2026-7001", "shop/web:2.1.0")] == (
        True,
        "docker.io/library/debian:12-slim",
    )  # annotation
    assert origin[("CVE-2026-1001", "platform/base:alpine-3.19.1")] == (None, "")  # is a base itself
    upgrades = {u["image"]: u for u in _run(estate, state, "bases")["upgrades"]}
    api12 = upgrades["shop/api:1.2.0"]
    assert (api12["suggested_base"], api12["suggested_from"]) == (
        f"{estate.registry.host}/platform/base:alpine-3.19.1",
        "inventory",
    )
    # base findings 1002 zlib, 3001 busybox, 4001 libssl3; the 3.19.1 report still has 3001 and adds 1001
    assert (api12["base_findings"], api12["removes"], api12["introduces"]) == (3, 2, 1)
    assert api12["removed"] == ["P2 CVE-2026-1002 (zlib)", "P4 CVE-2026-4001 (libssl3)"]
    web = upgrades["shop/web:2.1.0"]
    # the approved list names debian: its clean Docker Hub report (unmatched) says what the upgrade removes
    assert (web["suggested_base"], web["suggested_from"], web["removes"], web["introduces"]) == (
        "docker.io/library/debian:13-slim",
        "approved bases",
        1,
        0,
    )
    assert (
        upgrades["shop/api:1.4.0"]["suggested_base"] is None
    )  # already on the newest alpine in the registry


def test_bad_reports_are_rejected_and_change_nothing(estate: Estate, state: Path, tmp_path: Path) -> None:
    _ingested(estate, state)
    good = (estate.reports / "shop-api-1.4.0.trivy.json").read_text()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.json").write_text("")
    (bad / "truncated.json").write_text(good[: len(good) // 2])
    (bad / "not-a-report.json").write_text('{"kind": "List", "items": []}')
    fs = json.loads(good)
    fs["ArtifactType"] = "filesystem"
    (bad / "filesystem.json").write_text(json.dumps(fs))
    wrong = json.loads(good)
    wrong["Results"][0]["Vulnerabilities"][0]["Layer"] = "sha256:not-an-object"
    (bad / "wrong-type.json").write_text(json.dumps(wrong))
    store = VulnStore(state / "regent.db")
    before = [(r.id, r.sha256) for r in store.reports()]
    store.close()
    done = regent("vulns", "ingest", str(bad), "--json", state=state, config=estate.config)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = {Path(r["source"]).name: r["error"] for r in json.loads(done.stdout)["reports"]}
    assert set(errors) == {
        "empty.json",
        "truncated.json",
        "not-a-report.json",
        "filesystem.json",
        "wrong-type.json",
    }
    assert errors["empty.json"].endswith("empty.json: empty file; expected a Trivy or Grype JSON report")
    assert "not valid JSON" in errors["truncated.json"] and "looks truncated" in errors["truncated.json"]
    assert "not a Trivy (`trivy image -f json`) or Grype" in errors["not-a-report.json"]
    assert "a Trivy 'filesystem' report" in errors["filesystem.json"]
    assert "Results.0.Vulnerabilities.0.Layer" in errors["wrong-type.json"]
    store = VulnStore(state / "regent.db")
    try:
        assert [(r.id, r.sha256) for r in store.reports()] == before
    finally:
        store.close()


def test_unknown_fields_and_clean_reports_are_accepted(estate: Estate, state: Path, tmp_path: Path) -> None:
    document = json.loads((estate.reports / "shop-api-1.4.0.trivy.json").read_text())
    document["ReportFormatRevision"] = {"Major": 3}
    document["Metadata"]["Kernel"] = "6.1"
    for result in document["Results"]:
        result["Packages"] = [{"Name": "x", "Version": "1"}]
        for vuln in result.get("Vulnerabilities") or []:
            vuln["ExploitMaturity"] = {"Level": "poc"}
            vuln["Layer"]["Size"] = 42
            vuln["CVSS"]["ghsa"] = {"V40Score": 9.9, "V40Vector": "CVSS:4.0/AV:N"}
    (tmp_path / "future.json").write_text(json.dumps(document))
    clean = json.loads((estate.reports / "base-alpine-3.19.1.trivy.json").read_text())
    for result in clean["Results"]:
        result["Vulnerabilities"] = None
    (tmp_path / "clean.json").write_text(json.dumps(clean))
    out = _run(estate, state, "ingest", str(tmp_path / "future.json"), str(tmp_path / "clean.json"))
    assert [(r["status"], r["findings"], r["matched"]) for r in out["reports"]] == [
        ("stored", 3, ["shop/api:1.4.0"]),
        ("stored", 0, ["platform/base:alpine-3.19.1"]),
    ]
    report = _run(estate, state, "report")
    libcrypto = next(f for f in report["findings"] if f["cve"] == "CVE-2026-1001")
    assert libcrypto["cvss"] == 9.9  # the highest v3/v4 score among sources, the new ghsa one included
    assert not any(f["image"] == "platform/base:alpine-3.19.1" for f in report["findings"])  # clean now
