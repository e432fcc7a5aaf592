"""The pull-through cache configuration as a change, without Portainer: the proposal's diff and refusals,
the revert's re-check, and the card. The real run is tests/integration/test_cache_config_real.py."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest

from bot.approvals.card import build_card
from bot.approvals.models import Proposal
from bot.slack.cards import card_message
from bot.slack.commands import SUBCOMMANDS
from tests.fakes.slack_api import check_message
from tools.changes.actions import Action
from tools.changes.registry_host import RegistryHost, RegistryService
from tools.changes.stack_update import (
    STACK_UPDATE,
    build_cache_configuration,
    build_stack_revert,
    remote_url,
)
from tools.errors import ChangeRefused
from tools.inventory.models import RegistrySource
from tools.portainer.models import Stack

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
SOURCE = RegistrySource(name="mirror", url="http://127.0.0.1:5000")
FILE = """\
# platform's registry
services:
  registry:
    image: registry:2  # <!channel> ``` no code block ends here
    environment:
      REGISTRY_HTTP_ADDR: ":5000"
"""


class StubHost:
    """What the builders read through RegistryHost: the stack and its file."""

    def __init__(self, text: str, service: RegistryService | None = None) -> None:
        self.text = text
        self.service = service or RegistryService(registry="mirror", environment=1, stack="registry")

    def stack(self) -> Stack:
        return Stack.model_validate({"Id": 3, "Name": "registry", "Type": 2, "EndpointId": 1})

    def stack_file(self, stack_id: int) -> str:
        assert stack_id == 3
        return self.text


def propose(host: StubHost, upstream: str = "docker.io", probe: str = "library/alpine:3.19") -> Action:
    return build_cache_configuration(
        cast(RegistryHost, host), source=SOURCE, upstream=upstream, probe=probe, reason="mirror", now=NOW
    )


def test_upstreams_become_the_url_distribution_pulls_from() -> None:
    assert remote_url("docker.io") == "https://registry-1.docker.io"
    assert remote_url("ghcr.io") == "https://ghcr.io"
    assert remote_url("http://127.0.0.1:5001/") == "http://127.0.0.1:5001"


def test_the_proposal_is_one_added_line_and_both_files_are_stored() -> None:
    action = propose(StubHost(FILE))
    diff = str(action.target["diff"])
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ['+      REGISTRY_PROXY_REMOTEURL: "https://registry-1.docker.io"']
    assert action.target["old_content"] == FILE and "REGISTRY_PROXY_REMOTEURL" in action.target["new_content"]
    assert [item.op for item in action.items] == ["update_stack", "verify"]
    assert "library/alpine:3.19" in action.items[1].label
    assert any("refuses pushes" in w for w in action.warnings)
    assert any("REGISTRY_PROXY_PASSWORD" in w and "never into the file" in w for w in action.warnings)


def test_the_card_shows_the_diff_escaped_in_a_code_block() -> None:
    action = propose(StubHost(FILE))
    view = STACK_UPDATE.view(action)
    assert view.preformatted == action.target["diff"]
    card = build_card(_proposal(action), action, STACK_UPDATE)
    payload = card_message(card).payload()
    assert check_message(payload) is None
    text = str(payload)
    assert "REGISTRY_PROXY_REMOTEURL" in text and "&lt;!channel&gt;" in text
    assert "<!channel>" not in text and "```\\n" in text and text.count("```") == 2


def test_what_cannot_be_proposed_is_refused_with_the_reason() -> None:
    container = RegistryService(registry="mirror", environment=1, container="registry")
    with pytest.raises(ChangeRefused, match="plain container"):
        propose(StubHost(FILE, container))
    with pytest.raises(ChangeRefused, match="repository:tag"):
        propose(StubHost(FILE), probe="alpine")
    applied = str(propose(StubHost(FILE)).target["new_content"])
    with pytest.raises(ChangeRefused, match="already is a pull-through cache"):
        propose(StubHost(applied))


def test_a_revert_needs_the_applied_file_to_be_there_still() -> None:
    applied = propose(StubHost(FILE))
    new = str(applied.target["new_content"])
    revert = build_stack_revert(cast(RegistryHost, StubHost(new)), applied, reason="undo", now=NOW)
    assert revert.target["new_content"] == FILE and revert.target["reverts"] == applied.action_id
    assert revert.items[1].label == "Check that mirror answers /v2/ again"
    with pytest.raises(ChangeRefused, match="no longer the one"):
        build_stack_revert(cast(RegistryHost, StubHost(new + "# edited\n")), applied, reason="undo", now=NOW)


def test_the_slash_commands_are_listed() -> None:
    assert {"gc", "cache", "revert"} <= set(SUBCOMMANDS)


def _proposal(action: Action) -> Proposal:
    return Proposal(
        id="prop-1",
        plan_id="",
        items_hash=action.items_hash,
        summary=action.summary(),
        requester="U0REQ",
        conversation="c",
        created_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
        status="pending",
        kind=action.kind,
        action_id=action.action_id,
    )


def test_credentials_in_the_file_are_masked_on_the_card() -> None:
    secret_file = FILE.replace(
        '      REGISTRY_HTTP_ADDR: ":5000"\n',
        '      REGISTRY_HTTP_SECRET: "s3cr3t-value"\n      REGISTRY_HTTP_ADDR: ":5000"\n',
    )
    action = propose(StubHost(secret_file))
    assert "s3cr3t-value" not in str(action.target["diff"])
    assert "REGISTRY_HTTP_SECRET: *** (masked)" in str(action.target["diff"])
    assert "s3cr3t-value" in str(action.target["new_content"])  # the file itself is applied whole
