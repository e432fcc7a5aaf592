"""The proposal gate: only the user's own words asking for a cleanup unlock the proposing tools."""

from __future__ import annotations

import pytest

from bot.agent.intent import asks_for_cleanup


@pytest.mark.parametrize(
    "text",
    [
        "Please delete shop/api:1.2.0",
        "clean up old nightly tags in team-x/batch",
        "can you do a cleanup of team-x?",
        "Remove the untagged leftovers",
        "prune everything older than 90 days in data/*",
        "get rid of shop/web 2.0.0",
        "free up some space in the registry",
        "Purge dangling manifests",
    ],
)
def test_cleanup_requests_open_the_gate(text: str) -> None:
    assert asks_for_cleanup(text)


@pytest.mark.parametrize(
    "text",
    [
        "How big is shop/api:1.4.0?",
        "What is the base image of shop/web:2.1.0?",
        "Where does team-x/worker run?",
        "Don't delete anything, just tell me what is stale",
        "do not remove the prod tags; which tags are old?",
        "show me the biggest repositories",
        "",
    ],
)
def test_questions_and_negations_keep_it_closed(text: str) -> None:
    assert not asks_for_cleanup(text)
