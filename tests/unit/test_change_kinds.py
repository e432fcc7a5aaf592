"""One change pipeline: a new kind of change is one module plus one registration, and flows through
create -> card -> decide -> execute -> card with nothing in approvals, Slack or the CLI knowing it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.approvals import Authorizer, Fact, ProposalStore
from bot.approvals.audit import AuditLog
from bot.slack.cards import card_message, item_list_messages
from tests.fakes.slack_api import check_message
from tools.changes.action_kind import ActionChangeKind
from tools.changes.actions import (
    Action,
    ActionItem,
    ActionReport,
    ActionStore,
    ItemOutcome,
    new_action,
    run_action,
)
from tools.changes.base import Change, ChangeReport, ChangeServices, Tables
from tools.changes.kinds import KINDS
from tools.changes.store import ChangeStore
from tools.errors import RegentError, StoreError
from tools.policy.store import PlanStore

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EVIL = "<!channel> <https://evil.example|click> & `x`"
ROOT = Path(__file__).resolve().parents[2]


# -- the whole of a new kind: its module's worth of code -----------------------------------------------


class RestartKind(ActionChangeKind):
    """Restarting containers (a stand-in for a garbage collection run or a stack update)."""

    name = "container_restart"
    verb = "Restart"
    nothing_done = "No container was restarted."
    nothing_will = "No container will be restarted."
    restarted: list[str]

    def __init__(self) -> None:
        self.restarted = []

    def facts(self, action: Action) -> tuple[Fact, ...]:
        """The environment the containers run in."""
        return (Fact("Environment", str(action.target["environment"])),)

    def run(self, change: Action, *, store: Tables, services: ChangeServices) -> ActionReport:
        """Restart each displayed container once; one that is gone is reported, not retried."""

        def steps(_action: Action) -> Any:
            def step(_index: int, item: ActionItem) -> tuple[ItemOutcome, str]:
                if item.ref == "gone":
                    return "already_gone", "no such container any more"
                self.restarted.append(item.ref)
                return "done", f"restarted at {services.now().isoformat()}"

            return step

        return run_action(change.action_id, store=store.actions, step=steps, now=services.now)


def restart_action(containers: list[str]) -> Action:
    items = [ActionItem(op="restart", ref=c, label=f"Restart container {c} {EVIL}") for c in containers]
    return new_action(
        kind="container_restart",
        title="Restart the api containers",
        reason="stuck " + EVIL,
        target={"environment": "prod-eu"},
        items=items,
        now=T0,
    )


# -- the pipeline around it, unchanged -------------------------------------------------------------------


@contextmanager
def no_registries() -> Iterator[dict[str, Any]]:
    yield {}


def services() -> ChangeServices:
    def unused() -> Any:
        raise AssertionError("a restart needs no Portainer client here")

    return ChangeServices(
        now=lambda: T0,
        registry_clients=no_registries,
        current_deployments=list,
        portainer_client=unused,
        ticket_target=lambda: None,
    )


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[ProposalStore, AuditLog, RestartKind]]:
    db = tmp_path / "regent.db"
    kind = RestartKind()
    plans, actions, audit = PlanStore(db), ActionStore(db), AuditLog(db)
    changes = ChangeStore(plans=plans, actions=actions, kinds=(*KINDS, kind))  # the one registration
    store = ProposalStore(db, changes=changes, audit=audit, clock=lambda: T0)

    def run(change: Change) -> ChangeReport:
        return changes.run(change, services=services())

    store.bind_runner(run)
    yield store, audit, kind
    store.close()
    for closable in (plans, actions, audit):
        closable.close()


def test_a_registered_kind_flows_through_create_card_decide_execute(
    pipeline: tuple[ProposalStore, AuditLog, RestartKind],
) -> None:
    store, audit, kind = pipeline
    proposal = store.create(change=restart_action(["c1", "gone", "c3"]), requester="U0REQ", conversation="c")
    assert proposal.kind == "container_restart" and proposal.change_id.startswith("act-")

    card = store.card(proposal)
    assert card.title == "Proposal: Restart the api containers"
    assert card.facts == (Fact("Environment", "prod-eu"),)
    assert card.items[0].label == f"Restart container c1 {EVIL}"
    assert card.wording.verb == "Restart" and card.outcome is None
    pending = card_message(card).payload()
    assert check_message(pending) is None and "<!channel>" not in str(pending)
    confirm = [e["confirm"] for b in pending["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert confirm[0]["confirm"]["text"] == "Restart"
    assert confirm[1]["text"]["text"] == "No container will be restarted."
    assert item_list_messages(card) == []  # three items fit on the card

    refused = store.decide(proposal_id=proposal.id, user="U0REQ", decision="approve", authorizer=approvers())
    assert refused.outcome == "forbidden" and kind.restarted == []
    decision = store.decide(proposal_id=proposal.id, user="U0APP", decision="approve", authorizer=approvers())
    assert decision.outcome == "approved" and kind.restarted == []  # deciding is not running

    execution = store.execute(proposal_id=proposal.id)
    assert execution.ran and execution.proposal.status == "done" and kind.restarted == ["c1", "c3"]
    assert not store.execute(proposal_id=proposal.id).ran and kind.restarted == ["c1", "c3"]
    done = store.card(execution.proposal)
    assert done.outcome is not None
    assert [(o.status, o.reason[:9]) for o in done.outcome.items] == [
        ("done", "restarted"),
        ("already_gone", "no such c"),
        ("done", "restarted"),
    ]
    final = card_message(done).payload()
    assert check_message(final) is None and "regent_approve" not in str(final)
    assert "already gone" in str(final) and "<https://evil" not in str(final)

    kinds = [e.kind for e in audit.entries()]
    assert kinds == [
        "proposal_created",
        "decision_refused",
        "proposal_approved",
        "execution_started",
        "execution_done",
    ]
    assert {e.payload["change_kind"] for e in audit.entries()} == {"container_restart"}
    assert audit.verify().ok


def test_an_unregistered_kind_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "regent.db"
    plans, actions = PlanStore(db), ActionStore(db)
    store = ProposalStore(db, changes=ChangeStore(plans=plans, actions=actions))
    with pytest.raises(StoreError, match="unknown kind of change 'container_restart'"):
        store.create(change=restart_action(["c1"]), requester="U0REQ", conversation="c")
    assert store.pending() == []
    store.close()
    plans.close()
    actions.close()


def test_a_change_whose_items_changed_is_not_shown_or_run(
    pipeline: tuple[ProposalStore, AuditLog, RestartKind],
) -> None:
    store, _, kind = pipeline
    proposal = store.create(change=restart_action(["c1"]), requester="U0REQ", conversation="c")
    other = restart_action(["c9"])
    forged = proposal.__class__(**{**_fields(proposal), "items_hash": other.items_hash})
    with pytest.raises(RegentError):
        store.card(forged)
    assert kind.restarted == []


def test_no_kind_chains_outside_tools_changes() -> None:
    """Approvals, Slack and the commands render and run every kind the same way."""
    pattern = re.compile(r"\bkind\s*[!=]=|is_action|isinstance\([^)]*(ActionCard|ProposalCard)")
    names = re.compile(r"portainer_user_suspension|container_restart")
    offenders = []
    for folder in ("bot/approvals", "bot/slack", "bot/commands"):
        for path in sorted((ROOT / folder).glob("*.py")):
            text = path.read_text()
            if pattern.search(text) or names.search(text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def approvers() -> Authorizer:
    return Authorizer(users=["U0APP"])


def _fields(proposal: Any) -> dict[str, Any]:
    return {name: getattr(proposal, name) for name in proposal.__slots__}
