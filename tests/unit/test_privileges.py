"""Read-only mode and findings without servers: the toolbox gate, the authorizer, settings, exit codes."""

from __future__ import annotations

import json

import pytest

from bot.approvals.authorization import ReadOnlyAuthorizer
from bot.config import READ_ONLY_REASON, Settings, read_only_reason
from tests.fakes.synthetic import NOW, synthetic_snapshot
from tools.errors import ConfigError
from tools.policy.plans import Plan
from tools.privileges.checks import Finding, delete_refusals, exit_code
from tools.toolbox.context import ProposalRef, ToolContext
from tools.toolbox.dispatch import Toolbox

PROPOSING = {"propose_deletion", "propose_retention_cleanup", "propose_user_suspension", "propose_ticket"}


def _toolbox(read_only: str | None) -> tuple[Toolbox, list[Plan]]:
    made: list[Plan] = []

    def propose(plan: Plan, user: str, conversation: str) -> ProposalRef:
        made.append(plan)
        return ProposalRef(id="p1", summary=plan.summary(), expires_at=NOW)

    context = ToolContext(
        snapshot=lambda: synthetic_snapshot(tags=10),
        propose=propose,
        now=lambda: NOW,
        read_only=read_only,
    )
    return Toolbox(context), made


def test_read_only_offers_and_runs_no_proposing_tool() -> None:
    toolbox, made = _toolbox(READ_ONLY_REASON)
    assert PROPOSING.isdisjoint(toolbox.names(proposing=True))
    assert PROPOSING.isdisjoint(toolbox.names(proposing={"cleanup", "suspension", "ticket"}))
    assert "find_stale_images" in toolbox.names(proposing=True)
    policy = {"repositories": ["**"], "delete_older_than_days": 0}
    for offered in (None, list(PROPOSING)):  # refused even when a caller claims it was offered
        outcome = toolbox.call(
            "propose_retention_cleanup",
            json.dumps({"policy": policy}),
            user="U1",
            conversation="c",
            offered=offered,
        )
        assert outcome.error == "read_only"
        assert json.loads(outcome.content)["error"] == READ_ONLY_REASON
    assert made == []


def test_cleanup_mode_keeps_the_intent_gate() -> None:
    toolbox, _ = _toolbox(None)
    assert set(toolbox.names(proposing=True)) >= PROPOSING
    assert PROPOSING.isdisjoint(toolbox.names(proposing=False))


def test_mode_defaults_to_cleanup_and_is_validated(tmp_path: object) -> None:
    assert Settings().mode == "cleanup" and read_only_reason(Settings()) is None
    settings = Settings.model_validate({"mode": "read-only"})
    assert read_only_reason(settings) == READ_ONLY_REASON and "mode: cleanup" in READ_ONLY_REASON
    with pytest.raises(ValueError):
        Settings.model_validate({"mode": "readonly"})
    assert issubclass(ConfigError, Exception)


def test_read_only_authorizer_refuses_approvals_not_rejections() -> None:
    authorizer = ReadOnlyAuthorizer(reason=READ_ONLY_REASON, users=["UAPPROVER"])
    approve = authorizer.authorize(user="UAPPROVER", requester="U1", decision="approve")
    assert not approve.allowed and "read-only mode" in approve.reason
    assert authorizer.authorize(user="UAPPROVER", requester="U1", decision="reject").allowed
    assert not authorizer.authorize(user="U0OTHER", requester="U1", decision="reject").allowed


def test_exit_codes_and_refusals_from_findings() -> None:
    ok = Finding("ok", "registry a", "read works")
    refused = Finding(
        "warning", "registry b", "the registry refuses deletes (405 UNSUPPORTED): proposals for it will fail"
    )
    other = Finding(
        "warning", "portainer x", "a standard user sees only the environments it is authorized for"
    )
    assert exit_code([ok]) == 0 and exit_code([ok, other]) == 1
    assert exit_code([ok, refused, Finding("error", "registry c", "cannot read")]) == 2
    assert delete_refusals([ok, refused, other]) == {"b": refused.message}
    assert refused.line().startswith("WARNING registry b: the registry refuses deletes")
