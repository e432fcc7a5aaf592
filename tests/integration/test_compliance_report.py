"""The compliance report in three formats, for a plain registry and for one managed through Portainer:
every figure against ground truth computed here from what was pushed, approved and scanned; the PDF
renders (pdftoppm) and its text (pdftotext) carries the evidence digest."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.approvals.audit import AuditLog
from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.conftest import need_binary
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import (
    STANDARD_USER,
    FakeEnvironment,
    FakeMembership,
    FakeRegistry,
    FakeTeam,
    FakeUser,
    make_pod,
)
from tests.vulns.scanner import Vuln, read_image, trivy_report
from tools.compliance.evidence import ComplianceEvidence, seal

pytestmark = pytest.mark.real
NOW = dt.datetime.now(dt.UTC)
API_KEY = "ptr_compliance-test-key-0001"
POLICIES = """
policies:
  - name: shop-old
    repositories: ["shop/*"]
    delete:
      - older_than_days: 100
"""


def seed(seeder: Seeder) -> dict[str, Any]:
    """shop/api: 3 tags (2 older than 100 days), 2 signed; ops/tool: 1 tag, unsigned. Returns the truth."""
    ages = {
        ("shop/api", "1.0"): 300,
        ("shop/api", "1.1"): 200,
        ("shop/api", "2.0"): 5,
        ("ops/tool", "1"): 400,
    }
    digests = {}
    for (repo, tag), age in ages.items():
        pushed = seeder.push_image(ImageSpec(repository=repo, tag=tag, created=NOW - dt.timedelta(days=age)))
        digests[(repo, tag)] = pushed.digest
    for tag in ("1.0", "2.0"):
        seeder.push_signature("shop/api", digests[("shop/api", tag)])
    return {
        "tagged": {"shop/api": 3, "ops/tool": 1},
        "signed": {"shop/api": 2, "ops/tool": 0},
        "unsigned_tags": {"shop/api": ["1.1"], "ops/tool": ["1"]},
        "violations": {"shop/api": {"1.0", "1.1"}, "ops/tool": set()},
    }


def write_config(tmp_path: Path, registry: RegistryServer) -> Path:
    policies = tmp_path / "policies.yml"
    policies.write_text(POLICIES)
    config = tmp_path / "regent.yml"
    config.write_text(f"registries:\n  - {{name: local, url: '{registry.url}'}}\npolicies_file: {policies}\n")
    return config


def report(
    config: Path, state: Path, fmt: str, output: Path | None = None, evidence: Path | None = None
) -> str:
    args = ["report", "compliance", "--config", str(config), "--format", fmt]
    args += ["--output", str(output)] if output else []
    args += ["--evidence", str(evidence)] if evidence else []
    done = run_regent(*args, state=state)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_three_formats_agree_with_ground_truth(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    truth = seed(seeder)
    config, state = write_config(tmp_path, registry), tmp_path / "state"
    assert run_regent("inventory", "--config", str(config), "--no-progress", state=state).returncode == 0
    audit = AuditLog(state / "regent.db")
    audit.append(actor="U0APP", kind="proposal_approved", payload={"summary": "approved by U0APP"})
    audit.append(actor="regent", kind="execution_done", payload={"summary": "Deleted 2 images"})
    audit.append(actor="U0X", kind="tool_call", payload={"tool": "get_image"})  # not a change record
    audit.close()

    data = json.loads(report(config, state, "json"))
    evidence = ComplianceEvidence.model_validate(data["evidence"])
    assert data["sha256"] == seal(evidence)
    (local,) = evidence.registries
    repos = {r.name: r for r in local.repositories}
    assert {n: r.images for n, r in repos.items()} == truth["tagged"]
    assert {n: r.signed for n, r in repos.items()} == truth["signed"]
    assert {n: r.unsigned_tags for n, r in repos.items()} == truth["unsigned_tags"]
    assert {n: {t for v in r.violations for t in v.tags} for n, r in repos.items()} == truth["violations"]
    ages = sorted(v.age_days for v in repos["shop/api"].violations)
    assert ages in ([199, 299], [200, 300])  # whole days by the created clock
    assert evidence.history.chain_ok and evidence.history.entries_checked >= 3
    assert [r.kind for r in evidence.history.records] == ["proposal_approved", "execution_done"]
    assert evidence.access.source is None and "not configured" in evidence.access.note
    assert evidence.vulns.running_images == 0 and evidence.vulns.images == []

    markdown = report(config, state, "md", evidence=tmp_path / "md-evidence.json")
    md_evidence = json.loads((tmp_path / "md-evidence.json").read_text())
    assert md_evidence["sha256"] in markdown
    assert md_evidence["sha256"] == seal(ComplianceEvidence.model_validate(md_evidence["evidence"]))
    assert "shop/api: 2/3 signed" in markdown and "hash chain verified" in markdown

    pdf = tmp_path / "report.pdf"
    report(config, state, "pdf", pdf, evidence=tmp_path / "pdf-evidence.json")
    pdf_evidence = json.loads((tmp_path / "pdf-evidence.json").read_text())
    assert pdf_evidence["sha256"] == seal(ComplianceEvidence.model_validate(pdf_evidence["evidence"]))
    pdftoppm, pdftotext = need_binary("pdftoppm", "poppler-utils"), need_binary("pdftotext", "poppler-utils")
    subprocess.run([pdftoppm, "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and all(p.stat().st_size > 1000 for p in pages)
    text = subprocess.run([pdftotext, str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert pdf_evidence["sha256"] in text.replace("\n", "") and "Registry compliance evidence" in text


def test_a_broken_chain_and_an_unknown_registry_are_said(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed(seeder)
    config, state = write_config(tmp_path, registry), tmp_path / "state"
    assert run_regent("inventory", "--config", str(config), "--no-progress", state=state).returncode == 0
    audit = AuditLog(state / "regent.db")
    audit.append(actor="U0APP", kind="proposal_approved", payload={"summary": "approved"})
    audit.close()

    with sqlite3.connect(state / "regent.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")  # what someone with the database file could do
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    data = json.loads(report(config, state, "json"))
    assert data["evidence"]["history"]["chain_ok"] is False
    unknown = run_regent("report", "compliance", "--config", str(config), "--registry", "nope", state=state)
    assert unknown.returncode == 2 and "nope" in unknown.stderr and "Traceback" not in unknown.stderr


def test_a_portainer_managed_registry_reports_access_and_running_images(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    """Portainer's users and teams, a pod running one image with a scanned critical and high finding."""
    seed(seeder)
    host = registry.url.split("://")[1]
    running = seeder.tagged()[("shop/api", "2.0")]
    pod = make_pod(
        "api-0",
        namespace="shop",
        containers=[("api", f"{host}/shop/api:2.0", f"docker-pullable://{host}/shop/api@{running}")],
    )
    fake = FakePortainer(
        users=[FakeUser(1, "admin", api_keys=(API_KEY,)), FakeUser(2, "bob", role=STANDARD_USER)],
        teams=[FakeTeam(1, "shop")],
        memberships=[FakeMembership(1, user_id=2, team_id=1)],
        registries=[FakeRegistry(5, "private", registry.url)],
        environments=[FakeEnvironment.kubernetes(2, "prod-k8s", pods=[pod])],
    )
    state = tmp_path / "state"
    with fake:
        config = write_config(tmp_path, registry)
        config.write_text(config.read_text() + f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
        env = {"PORTAINER_API_KEY": API_KEY}
        crawled = run_regent("inventory", "--config", str(config), "--no-progress", state=state, env=env)
        assert crawled.returncode == 0, crawled.stderr
        with httpx.Client() as client:
            image = read_image(client, registry.url, host, f"{host}/shop/api:2.0")
        vulns = [
            Vuln("CVE-2026-1111", "openssl", "3.0.1", layer=0, severity="CRITICAL", cvss=9.8),
            Vuln("CVE-2026-2222", "zlib", "1.2.13", layer=0, severity="HIGH"),
        ]
        scan = tmp_path / "scan.json"
        scan.write_text(json.dumps(trivy_report(image, vulns)))
        ingested = run_regent("vulns", "--config", str(config), "ingest", str(scan), state=state, env=env)
        assert ingested.returncode == 0, ingested.stderr + ingested.stdout
        done = run_regent(
            "report", "compliance", "--config", str(config), "--format", "json", state=state, env=env
        )
    assert done.returncode == 0, done.stderr
    evidence = ComplianceEvidence.model_validate(json.loads(done.stdout)["evidence"])
    people = {p.username: (p.role, p.teams, p.can_read_registry_credentials) for p in evidence.access.people}
    assert people == {"admin": ("administrator", [], True), "bob": ("standard user", ["shop"], False)}
    assert evidence.access.registries == [f"private: custom, {host}"]  # Portainer stores host:port
    assert evidence.access.auth_events is None  # CE has no authentication log
    assert evidence.vulns.running_images == 1
    (row,) = evidence.vulns.images
    assert (row.critical, row.high, row.findings, row.environments) == (1, 1, 2, ["prod-k8s"])
    assert API_KEY not in done.stdout + done.stderr
