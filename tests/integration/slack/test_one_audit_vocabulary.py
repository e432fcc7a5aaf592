"""`regent apply --yes` and a Slack Approve of the same kind of change write the same audit kinds into one
hash-chained log, and `regent audit verify` passes on the mixed log (issue 11: one change pipeline)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path

from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from tests.cli import run_regent
from tests.integration.slack.conftest import NOW, SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, REQUESTER, start_slack

TEAM_Y_POLICY = """
policies:
  - name: team-y cleanup
    repositories: ["team-y/**"]
    keep:
      - most_recent: 1
    delete:
      - older_than_days: 90
"""
EXPECTED = ["proposal_created", "proposal_approved", "execution_started", "execution_done"]


def test_cli_apply_and_slack_approval_write_the_same_audit_kinds(
    tmp_path: Path, small_registry: SmallRegistry, seeder: Seeder
) -> None:
    for tag, days in (("0.9", 500), ("3.0", 2)):  # a second repository, for the plan the CLI applies
        spec = ImageSpec(
            repository="team-y/app",
            tag=tag,
            created=NOW - dt.timedelta(days=days),
            base=ALPINE_3_19_1,
            extra_layer_seed=f"y-{tag}",
        )
        seeder.push_image(spec)
    state = tmp_path / "state"
    with start_slack(tmp_path, registry_url=small_registry.server.url) as harness:
        proposal = harness.proposals.create(
            change=small_registry.plan(), requester=REQUESTER, conversation="slack:T0TEAM:C0OPS:1"
        )
        harness.slack.desk.post_cards([proposal.id], CHANNEL, None)
        harness.wait_card(proposal.id)
        harness.click(proposal.id, user=APPROVER)
        assert harness.wait_status(proposal.id, "done", "failed") == "done"
    assert small_registry.tags() == ["2.0"]

    policy = tmp_path / "team-y.yml"
    policy.write_text(TEAM_Y_POLICY)
    registry = small_registry.server.url
    planned = run_regent("plan", "--policy", str(policy), "--registry", registry, "--json", state=state)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [i["tags"] for i in plan["items"]] == [["0.9"]]
    dry = run_regent("apply", plan["plan_id"], state=state)  # without --yes: no proposal, no decision
    assert dry.returncode == 2 and "--yes" in dry.stderr
    applied = run_regent("apply", plan["plan_id"], "--yes", state=state)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert sorted(small_registry.client.list_tags("team-y/app", fresh=True)) == ["3.0"]

    listed = run_regent("audit", "--json", "--limit", "100", state=state)
    entries = json.loads(listed.stdout)
    by_proposal: dict[str, list[str]] = {}
    actors: dict[str, set[str]] = {}
    for entry in entries:
        proposal_id = entry["payload"].get("proposal_id")
        if proposal_id:
            by_proposal.setdefault(proposal_id, []).append(entry["kind"])
            actors.setdefault(proposal_id, set()).add(entry["actor"])
    cli_id = next(pid for pid in by_proposal if pid != proposal.id)
    assert set(by_proposal) == {proposal.id, cli_id}
    assert by_proposal[proposal.id] == by_proposal[cli_id] == EXPECTED
    assert set(by_proposal[proposal.id]) == set(by_proposal[cli_id])
    assert not {"decision", "execution"} & {entry["kind"] for entry in entries}  # one vocabulary
    operator = f"cli:{getpass.getuser()}"
    assert actors[cli_id] == {operator, "regent"} and actors[proposal.id] == {REQUESTER, APPROVER, "regent"}
    done = [e["payload"] for e in entries if e["kind"] == "execution_done"]
    (cli_done,) = [payload for payload in done if payload["proposal_id"] == cli_id]
    assert cli_done["change_kind"] == "plan" and cli_done["change_id"] == plan["plan_id"]
    assert cli_done["deleted"] == 1

    verified = run_regent("audit", "verify", state=state)
    assert verified.returncode == 0 and "hash chain verified" in verified.stdout, verified.stderr
