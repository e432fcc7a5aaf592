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
        FakeUser(
            4, "dave", role=STANDARD_USER, api_keys=("ptr_dave_key_one_xxxxxxx", "ptr_dave_key_two_xxxxxxx")
        ),
    ]
    return FakePortainer(
        users=users,
        teams=[FakeTeam(1, "platform"), FakeTeam(2, "payments")],
        memberships=[
            FakeMembership(10, user_id=2, team_id=1),
            FakeMembership(11, user_id=2, team_id=2, role=TEAM_LEADER),
            FakeMembership(12, user_id=3, team_id=1),
            FakeMembership(13, user_id=4, team_id=2),
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


def dave(portainer: FakePortainer) -> FakeUser:
    return next(u for u in portainer.users if u.username == "dave")


def test_proposing_lists_every_change_and_writes_nothing(runtime: App, portainer: FakePortainer) -> None:
    proposal_id = propose(runtime)
    proposal = runtime.proposals.get(proposal_id)
    assert proposal is not None and proposal.kind == "portainer_user_suspension"
    assert proposal.status == "pending" and proposal.plan_id == "" and proposal.action_id
    card = runtime.proposals.card(proposal)
    labels = [item.label for item in card.items]
    assert card.facts == (Fact("Portainer user", "bob (id 2)"),)
    assert len(labels) == 4 and len(card.shown) == 4
    # Portainer shows an administrator's keys to nobody else (403): demote first, then list and revoke.
    assert labels == [
        "Demote bob from administrator to standard user",
        "Revoke every API key bob has once demoted (cannot be listed before)",
        "Remove bob from team platform (member)",
        "Remove bob from team payments (leader)",
    ]
    assert portainer.count("/api/users/2/tokens") == 0  # it would have been refused
    limits, unknown = card.warnings
    assert "cannot disable a login" in limits and "A role change ends the sessions" in limits
    assert "stays valid until it expires" not in limits  # a demotion does end an administrator's sessions
    assert "cannot be known before approval" in unknown and "demotes bob first" in unknown
    assert writes(portainer) == []
    created = runtime.audit.entries(kind="proposal_created")[-1].payload
    assert created["action_kind"] == "portainer_user_suspension" and len(created["items"]) == 4


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
    # What the card said: every key bob has once demoted, so one made after the proposal goes too.
    late_key = portainer.add_api_key(bob(portainer), description="made after the proposal")
    login = httpx.post(
        f"{portainer.url}/api/auth", json={"Username": "bob", "Password": bob(portainer).password}
    )
    session = {"Authorization": f"Bearer {login.json()['jwt']}"}
    assert httpx.get(f"{portainer.url}/api/users/me", headers=session).status_code == 200

    execution = approve_and_run(runtime, proposal_id)
    assert execution.ran and execution.proposal.status == "done"
    assert isinstance(execution.report, ActionReport)
    assert [r.status for r in execution.report.results] == ["done"] * 4
    revoked = execution.report.results[1].reason
    assert revoked.startswith("revoked 3: 2 `ptr_bob…` (key 2), 3 `ptr_bob…` (key 3), 7 `ptr_")
    assert revoked.endswith("(made after the proposal)")
    assert bob(portainer).role == STANDARD_USER and bob(portainer).api_keys == ()
    assert [(m.id, m.user_id) for m in portainer.memberships] == [(12, 3), (13, 4)]  # the others keep theirs
    assert writes(portainer)[1:] == [  # [0] is bob's own login above
        ("PUT", "/api/users/2"),  # first: until then Portainer refuses to list an administrator's keys
        ("DELETE", "/api/users/2/tokens/2"),
        ("DELETE", "/api/users/2/tokens/3"),
        ("DELETE", "/api/users/2/tokens/7"),
        ("DELETE", "/api/team_memberships/10"),
        ("DELETE", "/api/team_memberships/11"),
    ]
    gone = httpx.get(f"{portainer.url}/api/users/me", headers={"X-API-Key": late_key}, timeout=5)
    assert gone.status_code == 401
    # The role change set bob's TokenIssueAt: the session he had open is refused too.
    assert httpx.get(f"{portainer.url}/api/users/me", headers=session).status_code == 401
    kinds = [e.kind for e in runtime.audit.entries()]
    assert kinds[-3:] == ["proposal_approved", "execution_started", "execution_done"]
    done = runtime.audit.entries(kind="execution_done")[-1].payload
    assert [(r["op"], r["ref"], r["status"]) for r in done["results"]] == [
        ("demote_to_standard_user", "2", "done"),
        ("revoke_all_api_keys", "2", "done"),
        ("remove_team_membership", "10", "done"),
        ("remove_team_membership", "11", "done"),
    ]
    assert runtime.audit.verify().ok
    card = runtime.proposals.card(execution.proposal)
    assert card.outcome is not None and [o.status for o in card.outcome.items] == ["done"] * 4


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
    target.api_keys = target.api_keys[1:]  # someone revoked one of bob's keys by hand
    portainer.memberships = [m for m in portainer.memberships if m.id != 11]
    execution = approve_and_run(runtime, proposal_id)
    statuses = [r.status for r in execution.report.results]
    assert statuses == ["done", "done", "done", "already_gone"]
    assert execution.report.results[1].reason.startswith("revoked 1: ")
    assert writes(portainer) == [
        ("PUT", "/api/users/2"),
        ("DELETE", "/api/users/2/tokens/3"),
        ("DELETE", "/api/team_memberships/10"),
    ]


def test_a_standard_users_displayed_keys_are_revoked_and_a_later_one_is_not(
    runtime: App, portainer: FakePortainer
) -> None:
    """A standard user's keys can be listed before approval: each one is an item, and only those go."""
    proposal_id = propose(runtime, "dave")
    card = runtime.proposals.card(runtime.proposals.get(proposal_id))  # type: ignore[arg-type]
    labels = [item.label for item in card.items]
    assert [i.split(" `")[0] for i in labels] == [
        "Revoke API key 5",
        "Revoke API key 6",
        "Remove dave from team payments (member)",
    ]
    assert all("ptr_dave_key" not in label for label in labels)  # only the 7-character prefix is shown
    assert len(card.warnings) == 1 and "stay valid until they expire" in card.warnings[0]
    late_key = portainer.add_api_key(dave(portainer), description="made after the proposal")
    execution = approve_and_run(runtime, proposal_id)
    assert [r.status for r in execution.report.results] == ["done"] * 3
    assert dave(portainer).api_keys == (late_key,)  # the key nobody was shown is not revoked
    assert writes(portainer) == [
        ("DELETE", "/api/users/4/tokens/5"),
        ("DELETE", "/api/users/4/tokens/6"),
        ("DELETE", "/api/team_memberships/13"),
    ]


def test_a_missing_key_counts_as_gone_only_when_a_new_listing_confirms_it(
    runtime: App, portainer: FakePortainer
) -> None:
    """user_remove_access_token.go:47-76: a key that no longer exists answers 500 "API Key not found"."""
    proposal_id = propose(runtime, "dave")
    target = dave(portainer)
    first, second = target.api_keys

    def revoke_first_by_hand() -> None:  # between Regent's listing and its DELETE
        target.api_keys = tuple(k for k in target.api_keys if k != first)

    portainer.run_before("/api/users/4/tokens/5", revoke_first_by_hand, method="DELETE")
    not_found = {"message": "API Key not found", "details": "Unable to retrieve api-key"}
    portainer.fail_next("/api/users/4/tokens/6", status=500, body=not_found, method="DELETE")  # yet it exists
    execution = approve_and_run(runtime, proposal_id)
    key_one, key_two, membership = execution.report.results
    assert (key_one.status, key_one.reason) == (
        "already_gone",
        "already gone when Regent got to it (a new listing confirms it)",
    )
    assert key_two.status == "failed" and "API Key not found" in key_two.reason
    assert membership.status == "done"
    assert target.api_keys == (second,)


def test_regent_needs_an_administrators_key_to_propose_a_suspension(
    portainer: FakePortainer, tmp_path: Path
) -> None:
    """A standard user may not list users (user_list.go: 403), nor change roles, keys or memberships."""
    carol = next(u for u in portainer.users if u.username == "carol")
    app = build_app(
        settings=settings_for(portainer),
        secrets=Secrets(portainer_api_key=SecretStr(carol.api_keys[0])),
        state_dir=tmp_path / "state",
    )
    try:
        outcome = app.toolbox.call(
            "propose_user_suspension",
            json.dumps({"user": "bob", "reason": "test"}),
            user=REQUESTER,
            conversation="C0OPS:1",
            offered=app.toolbox.names(proposing={"suspension"}),
        )
    finally:
        app.close()
    assert (
        outcome.error == "failed"
        and "'carol' is not an administrator" in json.loads(outcome.content)["error"]
    )
    assert writes(portainer) == []


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
    assert "Revoke every API key bob has once demoted" in text and "cannot be known before approval" in text
    assert "Remove bob from team payments (leader)" in text
    assert "revoke_all_api_keys" not in text and ": done (revoked 2: 2 `ptr_bob" in text
    assert len(writes(portainer)) == 5
    assert runtime.proposals.get(proposal_id).status == "done"  # type: ignore[union-attr]
