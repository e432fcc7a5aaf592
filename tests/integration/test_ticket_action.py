"""Tickets as approved actions: a local HTTP receiver gets exactly one POST with the preset's payload after
an approval, none before, none on reject, none when the configured webhook changed since the proposal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import App, build_app
from bot.approvals import Authorizer, Fact
from bot.config import Secrets, Settings, VulnsEnv
from tests.fakes.http_server import BackgroundServer, QuietHandler
from tools.changes.actions import ActionReport
from tools.changes.ticket import build_ticket_action
from tools.vulns.tickets import TicketTarget
from tools.vulns.views import CveGroup

REQUESTER, APPROVER = "U0REQ", "U0APP"
TOKEN = "ticket-token-canary-123"


class Receiver(BackgroundServer):
    """Records every request it gets and answers 201 like Jira and ServiceNow do."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    owner.received.append((self.path, dict(self.headers.items()), json.loads(body)))
                self.send_body(201, b'{"key":"SEC-42"}', {"Content-Type": "application/json"})

        super().__init__(Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def group() -> CveGroup:
    return CveGroup(
        cve="CVE-2026-1234",
        priority="P1",
        score=97.0,
        kev=True,
        epss=0.91,
        severity="CRITICAL",
        cvss=9.8,
        fixable=True,
        fixed_versions=["3.0.15"],
        packages=["openssl 3.0.13"],
        images=["shop/api:1.4.0", "shop/web:2.1.0"],
        environments=["prod-eu"],
        exposure="production",
        from_base=True,
        reason="known exploited, running in production",
        findings=2,
    )


def make(tmp_path: Path, receiver: Receiver, preset: str, **extra: str) -> App:
    ticket = {"url": f"{receiver.url}/hooks/tickets", "preset": preset, "token_env": "T"} | extra
    settings = Settings.model_validate(
        {"vulns": {"ticket": ticket}, "slack": {"approvers": {"users": [APPROVER]}}}
    )
    return build_app(
        settings=settings,
        secrets=Secrets(vulns=VulnsEnv(ticket_token=SecretStr(TOKEN))),
        state_dir=tmp_path / "state",
    )


def propose(runtime: App) -> str:
    target = runtime.toolbox.context.ticket_target
    assert target is not None
    action = build_ticket_action(group(), target, reason="P1 in prod", now=runtime.clock())
    return runtime.proposals.create(change=action, requester=REQUESTER, conversation="c").id


def decide(runtime: App, proposal_id: str, decision: str) -> Any:
    return runtime.proposals.decide(
        proposal_id=proposal_id,
        user=APPROVER,
        decision="approve" if decision == "approve" else "reject",
        authorizer=Authorizer(users=[APPROVER]),
    )


@pytest.mark.parametrize(
    ("preset", "extra", "check"),
    [
        ("generic", {}, lambda b: b["source"] == "regent" and b["cve"] == "CVE-2026-1234"),
        (
            "jira",
            {"project": "SEC"},
            lambda b: b["fields"]["project"] == {"key": "SEC"} and "CVE-2026-1234" in b["fields"]["summary"],
        ),
        (
            "servicenow",
            {"assignment_group": "secops"},
            lambda b: b["urgency"] == "1" and b["assignment_group"] == "secops",
        ),
    ],
)
def test_one_post_after_approval_none_before(
    tmp_path: Path, receiver: Receiver, preset: str, extra: dict[str, str], check: Any
) -> None:
    runtime = make(tmp_path, receiver, preset, **extra)
    try:
        proposal_id = propose(runtime)
        proposal = runtime.proposals.get(proposal_id)
        assert proposal is not None and proposal.kind == "ticket"
        card = runtime.proposals.card(proposal)
        assert card.items[0].label.startswith("[P1] CVE-2026-1234 in openssl")
        assert Fact("Tracker", f"{preset} webhook {receiver.url}/hooks/tickets") in card.facts
        assert receiver.received == []
        assert decide(runtime, proposal_id, "approve").outcome == "approved"
        assert receiver.received == []  # deciding is not sending
        barrier = threading.Barrier(2)
        runs: list[Any] = []

        def execute() -> None:
            barrier.wait(timeout=5)
            runs.append(runtime.proposals.execute(proposal_id=proposal_id))

        threads = [threading.Thread(target=execute) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert sorted(r.ran for r in runs) == [False, True]
        ((path, headers, body),) = receiver.received
        assert path == "/hooks/tickets" and headers["Authorization"] == f"Bearer {TOKEN}" and check(body)
        done = runtime.proposals.get(proposal_id)
        assert done is not None and done.status == "done"
        report = ActionReport.model_validate(done.result)
        assert report.results[0].status == "done" and "SEC-42" in report.results[0].reason
        # The token reached the webhook only: never the stored action, the proposal or the audit log.
        for entry in runtime.audit.entries():
            assert TOKEN not in json.dumps(entry.payload)
        assert TOKEN not in json.dumps(done.result)
    finally:
        runtime.close()


def test_reject_sends_nothing(tmp_path: Path, receiver: Receiver) -> None:
    runtime = make(tmp_path, receiver, "generic")
    try:
        proposal_id = propose(runtime)
        assert decide(runtime, proposal_id, "reject").outcome == "rejected"
        execution = runtime.proposals.execute(proposal_id=proposal_id)
        assert not execution.ran and receiver.received == []
    finally:
        runtime.close()


def test_a_webhook_changed_since_the_proposal_is_not_posted_to(tmp_path: Path, receiver: Receiver) -> None:
    runtime = make(tmp_path, receiver, "generic")
    try:
        proposal_id = propose(runtime)
        runtime.toolbox.context.ticket_target = TicketTarget(url=f"{receiver.url}/other", preset="generic")
        assert decide(runtime, proposal_id, "approve").outcome == "approved"
        execution = runtime.proposals.execute(proposal_id=proposal_id)
        assert isinstance(execution.report, ActionReport)
        assert execution.report.results[0].status == "skipped" and receiver.received == []
    finally:
        runtime.close()


def test_propose_ticket_needs_the_user_to_ask_and_a_configured_tracker(tmp_path: Path) -> None:
    runtime = build_app(settings=Settings(), secrets=Secrets(), state_dir=tmp_path / "s")
    try:
        args = json.dumps({"cve": "CVE-2026-1234", "reason": "x"})
        kwargs: dict[str, Any] = {"user": REQUESTER, "conversation": "c"}
        closed = runtime.toolbox.call(
            "propose_ticket", args, offered=runtime.toolbox.names(proposing={"cleanup"}), **kwargs
        )
        assert closed.error == "not_offered"
        unconfigured = runtime.toolbox.call(
            "propose_ticket", args, offered=runtime.toolbox.names(proposing={"ticket"}), **kwargs
        )
        assert unconfigured.error == "failed" and "no ticket tracker" in unconfigured.content
        assert runtime.proposals.pending() == []
    finally:
        runtime.close()
