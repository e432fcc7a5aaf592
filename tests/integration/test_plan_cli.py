"""`regent plan`, `regent apply` and `regent audit` as an operator runs them, on the real registry."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import subprocess
from pathlib import Path

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tests.cli import run_regent
from tools.registry.client import RegistryClient
from tools.registry.http import pooled_client

ROOT = Path(__file__).resolve().parents[2]
POLICY = """\
policies:
  - name: cleanup
    registry: "*"
    repositories: ["**"]
    keep:
      - most_recent: 1
      - tags: ["latest"]
    delete:
      - older_than_days: 90
"""


def regent(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return run_regent(*args, state=state)


def test_plan_then_apply_once(registry: RegistryServer, seeder: Seeder, tmp_path: Path) -> None:
    seed_sample(seeder, now=dt.datetime.now(dt.UTC), runnable=False)
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    planned = regent("plan", "--policy", str(policy), "--registry", registry.url, "--json", state=state)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert set(plan) >= {"plan_id", "items", "kept", "reclaimable_bytes"}
    assert plan["items"] and all(
        set(i) >= {"repository", "digest", "tags", "reason", "bytes"} for i in plan["items"]
    )
    tagged_latest = {d for (repo, tag), d in seeder.tagged().items() if tag == "latest"}
    assert not tagged_latest & {i["digest"] for i in plan["items"]}

    refused = regent("apply", plan["plan_id"], state=state)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    client = RegistryClient(registry.url, http=pooled_client(connections=4))
    victim = plan["items"][0]
    assert client.head_manifest(victim["repository"], victim["digest"]) is not None  # nothing deleted yet

    applied = regent("apply", plan["plan_id"], "--yes", state=state)  # sources come from the plan
    assert applied.returncode == 0, applied.stderr
    for item in plan["items"]:
        assert client.head_manifest(item["repository"], item["digest"]) is None
    for digest in tagged_latest:
        assert any(client.head_manifest(repo, digest) for repo, _ in seeder.tagged())

    again = regent("apply", plan["plan_id"], "--yes", state=state)
    assert "already executed" in again.stdout

    audit = regent("audit", "--json", state=state)
    entries = json.loads(audit.stdout)
    kinds = [entry["kind"] for entry in entries]
    # The same approval record as a Slack click; the second apply added nothing (it ran once).
    assert kinds == ["plan", "proposal_created", "proposal_approved", "execution_started", "execution_done"]
    operator = f"cli:{getpass.getuser()}"
    assert [e["actor"] for e in entries[1:3]] == [operator, operator]
    assert {e["payload"]["change_id"] for e in entries[1:]} == {plan["plan_id"]}
    verified = regent("audit", "verify", state=state)
    assert verified.returncode == 0 and "verified" in verified.stdout


def test_bad_policy_file_is_one_clear_message(tmp_path: Path) -> None:
    policy = tmp_path / "bad.yml"
    policy.write_text(
        "policies:\n  - name: x\n    repositories: ['re:(']\n    keep:\n      - most_recent: -3\n"
    )
    result = regent("plan", "--policy", str(policy), "--registry", "http://127.0.0.1:9", state=tmp_path)
    assert result.returncode == 2
    assert f"{policy}:" in result.stderr and "Traceback" not in result.stderr
    assert "most_recent" in result.stderr or "re:(" in result.stderr


def test_audit_verify_detects_tampering(registry: RegistryServer, seeder: Seeder, tmp_path: Path) -> None:
    import sqlite3

    seed_sample(seeder, now=dt.datetime.now(dt.UTC), runnable=False)
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    state = tmp_path / "state"
    assert regent("plan", "--policy", str(policy), "--registry", registry.url, state=state).returncode == 0
    conn = sqlite3.connect(state / "regent.db")
    conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log'"
    ):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1")
    conn.commit()
    conn.close()
    verified = regent("audit", "verify", state=state)
    assert verified.returncode == 1 and "BROKEN at entry 1" in verified.stderr
