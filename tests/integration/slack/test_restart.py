"""A restart between the click and the execution, or in the middle of it: the plan still runs exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, REQUESTER, SlackHarness, start_slack
from tools.changes.base import Change
from tools.policy.store import ItemResult


class Crash(BaseException):
    """The process dying (not an error anything would catch)."""


def approve_without_executing(harness: SlackHarness, small: SmallRegistry) -> str:
    proposal = harness.proposals.create(change=small.plan(), requester=REQUESTER, conversation="c")
    harness.slack.desk.post_cards([proposal.id], CHANNEL, None)
    harness.wait_card(proposal.id)
    # The first half of a click; the process dies before the second half (execute).
    decision = harness.proposals.decide(
        proposal_id=proposal.id,
        user=APPROVER,
        decision="approve",
        authorizer=harness.slack.services.authorizer,
    )
    assert decision.outcome == "approved"
    return proposal.id


def test_restart_after_the_decision_executes_once(tmp_path: Path, small_registry: SmallRegistry) -> None:
    with start_slack(tmp_path, registry_url=small_registry.server.url) as before:
        proposal_id = approve_without_executing(before, small_registry)
        card_ts = before.wait_card(proposal_id)
    assert small_registry.tags() == ["1.0", "1.1", "2.0"]
    with start_slack(tmp_path, registry_url=small_registry.server.url) as after:
        assert after.wait_status(proposal_id, "done") == "done"
        assert small_registry.tags() == ["2.0"]
        update = after.fake.wait_for("chat.update")[-1]
        assert update.args["ts"] == card_ts and "Deleted 2" in str(update.args["blocks"])
        kinds = [e.kind for e in after.audit.entries()]
        assert kinds.count("proposal_approved") == 1 and kinds.count("execution_started") == 1
    with start_slack(tmp_path, registry_url=small_registry.server.url) as again:  # nothing left to resume
        again.slack.tasks.shutdown(wait=True)  # start() queued the resume there; wait for it
        assert [e.kind for e in again.audit.entries()].count("execution_started") == 1


def test_restart_in_the_middle_of_execution_resumes_without_repeating(
    tmp_path: Path, small_registry: SmallRegistry
) -> None:
    with start_slack(tmp_path, registry_url=small_registry.server.url) as before:
        proposal_id = approve_without_executing(before, small_registry)
        proposal = before.proposals.get(proposal_id)
        assert proposal is not None
        plan = before.plans.get(proposal.plan_id)
        long_ago = datetime.now(UTC) - timedelta(hours=1)

        def dies_after_first_delete(change: Change) -> None:
            plan_id = change.change_id
            # What tools.changes.retention does until the process is killed: claim, delete one
            # item, record it.
            assert before.plans.claim(plan_id, runner="host:1:dead", now=long_ago)
            item = plan.items[0]
            assert small_registry.client.delete_manifest(item.repository, item.digest)
            result = ItemResult(
                index=0,
                registry=item.registry,
                repository=item.repository,
                digest=item.digest,
                tags=item.tags,
                status="deleted",
                reason="deleted by digest",
                bytes=item.bytes,
            )
            before.plans.save_result(plan_id, result, now=long_ago)
            raise Crash

        with pytest.raises(Crash):
            before.proposals.execute(proposal_id=proposal_id, run=dies_after_first_delete)  # type: ignore[arg-type]
        assert before.proposals.get(proposal_id).status == "executing"  # type: ignore[union-attr]
    assert len(small_registry.tags()) == 2  # one of the two old tags is gone
    with start_slack(tmp_path, registry_url=small_registry.server.url) as after:
        assert after.wait_status(proposal_id, "done") == "done"
        assert small_registry.tags() == ["2.0"]
        results = after.plans.results(plan.plan_id)
        assert sorted(status for status, _ in results.values()) == ["deleted", "deleted"]
        final = after.proposals.get(proposal_id)
        assert final is not None and final.result is not None and final.result["deleted"] == 2
