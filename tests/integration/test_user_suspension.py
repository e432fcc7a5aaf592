"""Suspending a Portainer user end to end: the real runtime, toolbox, approvals and client against the fake
Portainer over HTTP. Proposing writes nothing; only an approver's Approve revokes exactly the displayed
keys and memberships (and demotes), once, whatever the clicks; later keys and deleted users are handled."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import App, build_app
from bot.approvals import Authorizer, Fact, ProposalStore
from bot.config import Secrets, Settings
from tests.fakes.openai_server import FakeOpenAI, tool_messages, tool_names
from tests.fakes.portainer import FakeMembership, FakePortainer, FakeTeam, FakeUser
from tests.fakes.portainer_records import ADMIN, STANDARD_USER, TEAM_LEADER
from tests.integration.agent_harness import call, make_runtime
from tools.changes.actions import ActionReport, ActionStore
from tools.changes.store import ChangeStore
from tools.changes.suspension import execute_suspension
from tools.policy.store import PlanStore

REQUESTER, APPROVER, OUTSIDER = "U0REQ", "U0APP", "U0OUT"
WRITES = ("DELETE", "PUT", "POST")


def make_portainer() -> FakePortainer:
    users = [
        FakeUser(1, "admin"),
        FakeUser(2, "bob", role=ADMIN, api_keys=("ptr_bob_key_one_xxxxxxxx", "ptr_bob_key_two_xxxxxxxx")),
        FakeUser(3, "carol", role=STANDARD_USER),
    ]
    return FakePortainer(
        users=users,
        teams=[FakeTeam(1, "platform"), FakeTeam(2, "payments")],
        memberships=[
            FakeMembership(10, user_id=2, team_id=1),
            FakeMembership(11, user_id=2, team_id=2, role=TEAM_LEADER),
            FakeMembership(12, user_id=3, team_id=1),
        ],
    )


def settings_for(portainer: FakePortainer) -> Settings:
    return Settings.model_validate(
        {"portainer": {"url": portainer.url}, "slack": {"approvers": {"users": [APPROVER]}}}
    )


@pytest.fixture
def portainer() -> Iterator[FakePortainer]:
    with make_portainer() as server:
        yield server


@pytest.fixture
def runtime(portainer: FakePortainer, tmp_path: Path) -> Iterator[App]:
    rt = build_app(
        settings=settings_for(portainer),
        secrets=Secrets(portainer_api_key=SecretStr(portainer.admin.api_keys[0])),
        state_dir=tmp_path / "state",
    )
    yield rt
    rt.close()


def writes(portainer: FakePortainer) -> list[tuple[str, str]]:
    return [(m, p) for m, p in portainer.log if m in WRITES]


def propose(runtime: App, user: str = "bob") -> str:
    outcome = runtime.toolbox.call(
        "propose_user_suspension",
        json.dumps({"user": user, "reason": "left the company"}),
        user=REQUESTER,
        conversation="C0OPS:1",
        offered=runtime.toolbox.names(proposing={"suspension"}),
    )
    assert outcome.ok, outcome.content
    (proposal_id,) = outcome.proposal_ids
    return proposal_id


def approvers() -> Authorizer:
    return Authorizer(users=[APPROVER])


def approve_and_run(runtime: App, proposal_id: str, user: str = APPROVER) -> Any:
    decision = runtime.proposals.decide(
        proposal_id=proposal_id, user=user, decision="approve", authorizer=approvers()
    )
    if decision.outcome != "approved":
        return decision
    return runtime.proposals.execute(proposal_id=proposal_id)


def bob(portainer: FakePortainer) -> FakeUser:
    return next(u for u in portainer.users if u.username == "bob")


def test_proposing_lists_every_change_and_writes_nothing(runtime: App, portainer: FakePortainer) -> None:
    proposal_id = propose(runtime)
    proposal = runtime.proposals.get(proposal_id)
    assert proposal is not None and proposal.kind == "portainer_user_suspension"
    assert proposal.status == "pending" and proposal.plan_id == "" and proposal.action_id
    card = runtime.proposals.card(proposal)
    labels = [item.label for item in card.items]
    assert card.facts == (Fact("Portainer user", "bob (id 2)"),)
    assert len(labels) == 5 and len(card.shown) == 5
    assert labels[0] == "Demote bob from administrator to standard user"
    assert [i.split(" `")[0] for i in labels[1:3]] == ["Revoke API key 1", "Revoke API key 2"]
    assert labels[3:] == [
        "Remove bob from team platform (member)",
        "Remove bob from team payments (leader)",
    ]
    assert "cannot disable a login" in card.warnings[0]
    assert writes(portainer) == []
    assert all("ptr_bob_key" not in item for item in labels)  # only the 7-character prefix is shown
    created = runtime.audit.entries(kind="proposal_created")[-1].payload
    assert created["action_kind"] == "portainer_user_suspension" and len(created["items"]) == 5


def test_only_an_approver_runs_it_and_exactly_the_displayed_items_change(
    runtime: App, portainer: FakePortainer
) -> None:
    proposal_id = propose(runtime)
    for user in (OUTSIDER, REQUESTER):
        refused = runtime.proposals.decide(
            proposal_id=proposal_id, user=user, decision="approve", authorizer=approvers()
        )
        assert refused.outcome == "forbidden"
    assert writes(portainer) == []
    late_key = portainer.add_api_key(bob(portainer), description="made after the proposal")

    execution = approve_and_run(runtime, proposal_id)
    assert execution.ran and execution.proposal.status == "done"
    assert isinstance(execution.report, ActionReport)
    assert [r.status for r in execution.report.results] == ["done"] * 5
    assert bob(portainer).role == STANDARD_USER
    assert bob(portainer).api_keys == (late_key,)  # the key nobody was shown is not revoked
    assert [(m.id, m.user_id) for m in portainer.memberships] == [(12, 3)]  # carol keeps hers
    assert sorted(writes(portainer)) == [
        ("DELETE", "/api/team_memberships/10"),
        ("DELETE", "/api/team_memberships/11"),
        ("DELETE", "/api/users/2/tokens/1"),
        ("DELETE", "/api/users/2/tokens/2"),
        ("PUT", "/api/users/2"),
    ]
    still = httpx.get(f"{portainer.url}/api/users/me", headers={"X-API-Key": late_key}, timeout=5)
    assert still.status_code == 200 and still.json()["Role"] == STANDARD_USER
    kinds = [e.kind for e in runtime.audit.entries()]
    assert kinds[-3:] == ["proposal_approved", "execution_started", "execution_done"]
    done = runtime.audit.entries(kind="execution_done")[-1].payload
    assert [(r["op"], r["ref"], r["status"]) for r in done["results"]] == [
        ("demote_to_standard_user", "2", "done"),
        ("revoke_api_key", "1", "done"),
        ("revoke_api_key", "2", "done"),
        ("remove_team_membership", "10", "done"),
        ("remove_team_membership", "11", "done"),
    ]
    assert runtime.audit.verify().ok
    card = runtime.proposals.card(execution.proposal)
    assert card.outcome is not None and [o.status for o in card.outcome.items] == ["done"] * 5


def test_two_concurrent_clicks_change_everything_exactly_once(runtime: App, portainer: FakePortainer) -> None:
    proposal_id = propose(runtime)
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def click() -> None:
        barrier.wait(timeout=5)
        outcomes.append(approve_and_run(runtime, proposal_id))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    ran = [o for o in outcomes if getattr(o, "ran", False)]
    assert len(outcomes) == 2 and len(ran) == 1
    assert len(writes(portainer)) == 5
    assert portainer.count("/api/users/2/tokens/*", method="DELETE") == 2
    assert portainer.count("/api/team_memberships/*", method="DELETE") == 2
    # Running it again by any path does nothing more.
    action_id = runtime.proposals.get(proposal_id).action_id  # type: ignore[union-attr]
    assert runtime.actions is not None
    with runtime.portainer_client() as client:
        again = execute_suspension(action_id or "", store=runtime.actions, client=client, now=runtime.clock)
    assert again.status == "already_done" and len(writes(portainer)) == 5
    assert runtime.proposals.resume() == []


def test_a_user_deleted_before_the_click_is_skipped_with_the_reason(
    runtime: App, portainer: FakePortainer
) -> None:
    proposal_id = propose(runtime)
    portainer.users.remove(bob(portainer))
    execution = approve_and_run(runtime, proposal_id)
    assert execution.proposal.status == "done"
    assert {(r.status, r.reason) for r in execution.report.results} == {
        ("skipped", "user bob (id 2) no longer exists")
    }
    assert writes(portainer) == []


def test_changes_made_meanwhile_are_reported_as_already_gone(runtime: App, portainer: FakePortainer) -> None:
    proposal_id = propose(runtime)
    target = bob(portainer)
    target.api_keys = target.api_keys[1:]  # someone revoked key 1 by hand
    portainer.memberships = [m for m in portainer.memberships if m.id != 11]
    execution = approve_and_run(runtime, proposal_id)
    statuses = [r.status for r in execution.report.results]
    assert statuses == ["done", "already_gone", "done", "done", "already_gone"]
    assert sorted(writes(portainer)) == [
        ("DELETE", "/api/team_memberships/10"),
        ("DELETE", "/api/users/2/tokens/2"),
        ("PUT", "/api/users/2"),
    ]


def test_suspending_regent_own_account_or_an_unknown_user_is_refused(runtime: App) -> None:
    for user, message in (("admin", "Regent itself uses"), ("nobody", "no user named")):
        outcome = runtime.toolbox.call(
            "propose_user_suspension",
            json.dumps({"user": user, "reason": "test"}),
            user=REQUESTER,
            conversation="C0OPS:1",
            offered=runtime.toolbox.names(proposing={"suspension"}),
        )
        assert outcome.error == "failed" and message in json.loads(outcome.content)["error"]
    assert runtime.proposals.pending() == []


def test_an_old_proposals_table_gets_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE proposals (id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, items_hash TEXT NOT NULL, "
            "summary TEXT NOT NULL, requester TEXT NOT NULL, conversation TEXT NOT NULL, created_at TEXT "
            "NOT NULL, expires_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', decided_by TEXT, "
            "decided_at TEXT, channel TEXT, message_ts TEXT, result TEXT)"
        )
        conn.execute(
            "INSERT INTO proposals (id, plan_id, items_hash, summary, requester, conversation, created_at, "
            "expires_at) VALUES ('prop-old', 'plan-1', 'sha256:x', 's', 'U1', 'c', "
            "'2026-11-27T00:00:00.000000Z', '2026-11-28T00:00:00.000000Z')"
        )
    plans, actions = PlanStore(db), ActionStore(db)
    for _ in range(2):  # opening twice is a no-op the second time
        store = ProposalStore(db, changes=ChangeStore(plans=plans, actions=actions))
        old = store.get("prop-old")
        assert old is not None and old.kind == "plan" and old.action_id is None and old.change_id == "plan-1"
        assert [p.id for p in store.for_change("plan", "plan-1")] == ["prop-old"]
        store.close()
    plans.close()
    actions.close()


def test_the_agent_cannot_propose_a_suspension_the_user_did_not_ask_for(
    portainer: FakePortainer, tmp_path: Path
) -> None:
    with FakeOpenAI() as fake_llm:
        rt = make_runtime(
            tmp_path,
            llm_url=fake_llm.base_url,
            settings=settings_for(portainer),
            secrets=Secrets(portainer_api_key=SecretStr(portainer.admin.api_keys[0])),
        )
        try:
            fake_llm.push(
                call("propose_user_suspension", user="bob", reason="the model decided"),
                {"content": "bob is an administrator."},
            )
            assert rt.agent is not None
            reply = rt.agent.answer(conversation="C1:1", user="U1", text="Who is bob in Portainer?")
            assert reply.proposal_ids == [] and rt.proposals.pending() == []
            assert "propose_user_suspension" not in tool_names(fake_llm.requests[0])
            refusal = json.loads(tool_messages(fake_llm.requests[-1])[-1]["content"])
            assert "not available for this message" in refusal["error"]
            assert writes(portainer) == [] and portainer.count("/api/users/2/tokens") == 0

            # Asked in the user's own words, the tool is offered and makes a pending proposal only.
            fake_llm.push(
                call("propose_user_suspension", user="bob", reason="offboarding"),
                {"content": "Proposed."},
            )
            reply = rt.agent.answer(conversation="C1:2", user="U1", text="Please suspend bob in Portainer")
            assert "propose_user_suspension" in tool_names(fake_llm.requests[-2])
            assert "propose_deletion" not in tool_names(fake_llm.requests[-2])
            (proposal_id,) = reply.proposal_ids
            assert rt.proposals.get(proposal_id).status == "pending"  # type: ignore[union-attr]
            assert writes(portainer) == []
        finally:
            rt.close()


def test_regent_chat_shows_every_change_and_runs_it_on_yes(runtime: App, portainer: FakePortainer) -> None:
    from bot.commands.chat import review_proposal

    proposal_id = propose(runtime)
    lines: list[str] = []
    review_proposal(runtime, proposal_id, user="cli:ops", read=lambda _prompt: "y", write=lines.append)
    text = "\n".join(lines)
    assert "Portainer user: bob (id 2)" in text and "Demote bob from administrator" in text
    assert "Revoke API key 1" in text and "Remove bob from team payments (leader)" in text
    assert "revoke_api_key" not in text and ": done (revoked)" in text
    assert len(writes(portainer)) == 5
    assert runtime.proposals.get(proposal_id).status == "done"  # type: ignore[union-attr]
