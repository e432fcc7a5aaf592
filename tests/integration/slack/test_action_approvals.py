"""Suspension and ticket proposals through the real Bolt app: a mention, the agent's proposal, the
itemized card, refused and winning clicks, and the change made once (fake Portainer, local webhook)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import Secrets
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import check_message
from tests.integration.slack.harness import APPROVER, OUTSIDER, REQUESTER, SlackHarness, start_slack
from tests.integration.test_user_suspension import make_portainer, writes


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def text_of(args: dict[str, Any]) -> str:
    return json.dumps(args.get("blocks", [])) + str(args.get("text", ""))


def test_suspension_from_a_mention_to_revoked_keys(tmp_path: Path, llm: FakeOpenAI) -> None:
    with (
        make_portainer() as portainer,
        start_slack(
            tmp_path,
            llm_url=llm.base_url,
            settings_extra={"portainer": {"url": portainer.url}},
            secrets=Secrets(portainer_api_key=SecretStr(portainer.admin.api_keys[0])),
        ) as harness,
    ):
        run(harness, llm, portainer)


def run(harness: SlackHarness, llm: FakeOpenAI, portainer: Any) -> None:
    llm.push(
        {"tool_calls": [{"name": "propose_user_suspension", "arguments": {"user": "bob", "reason": "left"}}]},
        {"content": "I proposed suspending bob; an approver has to approve it."},
    )
    harness.mention("please suspend bob in Portainer, he left", event_id="EvU1")
    posts = harness.fake.wait_for("chat.postMessage", where=lambda c: "regent_approve" in text_of(c.args))
    card = posts[-1].args
    assert check_message(card) is None
    shown = text_of(card)
    for expected in (
        "Suspend Portainer user bob",
        "Demote bob",
        "Revoke every API key bob has",
        "team payments",
    ):
        assert expected in shown
    (proposal,) = harness.proposals.pending()
    buttons = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["value"] for b in buttons] == [proposal.id, proposal.id] and all(b["confirm"] for b in buttons)
    harness.wait_card(proposal.id)

    harness.click(proposal.id, user=OUTSIDER)
    harness.click(proposal.id, user=REQUESTER)
    refusals = harness.fake.wait_for("chat.postEphemeral", 2)
    assert {c.args["user"] for c in refusals} == {OUTSIDER, REQUESTER}
    assert writes(portainer) == []

    harness.click(proposal.id, user=APPROVER)
    assert harness.wait_status(proposal.id, "done", "failed") == "done"
    assert sorted(p for _, p in writes(portainer)) == [
        "/api/team_memberships/10",
        "/api/team_memberships/11",
        "/api/users/2",
        "/api/users/2/tokens/2",
        "/api/users/2/tokens/3",
    ]
    updates = harness.fake.wait_for("chat.update", 2, where=lambda c: "Approved by" in text_of(c.args))
    final = text_of(updates[-1].args)
    assert "regent_approve" not in final and "revoked" in final and check_message(updates[-1].args) is None
    harness.click(proposal.id, user=APPROVER)  # a late second click changes nothing
    harness.fake.wait_for("chat.postEphemeral", 3)
    assert len(writes(portainer)) == 5
