"""SIGKILL `regent inventory` mid-crawl and `regent apply` mid-delete (a hold at the fault proxy in front of
the real registry makes the kill land at a known request). After a restart nothing is deleted twice (DELETEs
counted per digest at the proxy), the interrupted execution resumes item by item, the state database
passes integrity_check and the audit chain verifies."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.fault_proxy import FaultProxy
from tests.reliability.crash import (
    OLD_TAGS,
    POLICIES,
    assert_state_intact,
    kill_hard,
    seed_old_and_new,
    spawn_regent,
)

pytestmark = pytest.mark.real
MANIFESTS = "/v2/team-x/app/manifests/"


def test_kill_mid_crawl_leaves_no_half_snapshot(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed_old_and_new(seeder)
    state = tmp_path / "state"
    with FaultProxy(registry.url) as proxy:
        first = run_regent("inventory", "--registry", proxy.url, "--no-progress", state=state)
        assert first.returncode == 0, first.stderr
        # A new tag since: the second crawl has something new to fetch and blocks on it.
        seeder.tag("team-x/app", seeder.tagged()[("team-x/app", "2.0")], "latest")
        proxy.inject(("hold",), method="GET", path=MANIFESTS)
        crawl = spawn_regent("inventory", "--registry", proxy.url, "--no-progress", state=state)
        proxy.wait_until(lambda p: p.held == 1)
        kill_hard(crawl)
        proxy.release(forward=False)
        assert_state_intact(state)
        conn = sqlite3.connect(state / "regent.db")
        assert (
            conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 1
        )  # the killed crawl saved nothing
        conn.close()
        again = run_regent("inventory", "--registry", proxy.url, "--json", state=state)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["registries"][0]["tags"] == 7
    assert_state_intact(state)


def test_kill_mid_apply_then_apply_again_resumes_without_deleting_twice(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    digests = seed_old_and_new(seeder)
    state = tmp_path / "state"
    policy = tmp_path / "policies.yml"
    policy.write_text(POLICIES)
    with FaultProxy(registry.url) as proxy:
        planned = run_regent("plan", "--policy", str(policy), "--registry", proxy.url, "--json", state=state)
        assert planned.returncode == 0, planned.stderr
        plan = json.loads(planned.stdout)
        assert {i["digest"] for i in plan["items"]} == {digests[t] for t in OLD_TAGS}
        proxy.inject(("hold",), method="DELETE", path=MANIFESTS, skip=2)  # the third delete blocks
        apply = spawn_regent("apply", plan["plan_id"], "--yes", state=state)
        proxy.wait_until(lambda p: p.held == 1)
        kill_hard(apply)
        # The DELETE had reached the network: it arrives at the registry after the process died.
        proxy.release(forward=True)
        proxy.wait_until(lambda p: p.finished == len(p.log))
        assert_state_intact(state)
        conn = sqlite3.connect(state / "regent.db")
        (status,) = conn.execute("SELECT status FROM plans WHERE id = ?", (plan["plan_id"],)).fetchone()
        recorded = conn.execute(
            "SELECT status FROM plan_results WHERE plan_id = ?", (plan["plan_id"],)
        ).fetchall()
        conn.close()
        assert status == "running" and [r[0] for r in recorded] == ["deleted", "deleted"]

        resumed = run_regent("apply", plan["plan_id"], "--yes", state=state)
        deletes = Counter(path for method, path, _ in proxy.log if method == "DELETE")
        again = run_regent("apply", plan["plan_id"], "--yes", state=state)
        assert sum(1 for method, _, _ in proxy.log if method == "DELETE") == sum(deletes.values())
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # 2 before the kill, the held one found gone on re-check (never sent again), 2 after
    assert "4 deleted, 1 already gone, 0 skipped, 0 failed" in resumed.stdout
    assert max(deletes.values()) == 1 and len(deletes) == len(OLD_TAGS)  # each digest deleted exactly once
    assert "already executed" in again.stdout
    remaining = run_regent("inventory", "--registry", registry.url, "--json", state=tmp_path / "check")
    assert json.loads(remaining.stdout)["registries"][0]["tags"] == 1
    assert_state_intact(state)
