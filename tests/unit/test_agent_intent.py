"""The proposal gate: only the user's own words asking for a cleanup unlock the proposing tools."""

from __future__ import annotations

import pytest

from bot.agent.intent import asked_intents, asks_for_cleanup, asks_for_suspension, asks_for_ticket


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
        "Would you delete shop/api:1.2.0?",
        "if they are stale, delete them",
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
        "Which images are stale, and how much space would removing them free?",
        "what if we pruned everything older than a year?",
        "",
    ],
)
def test_questions_and_negations_keep_it_closed(text: str) -> None:
    assert not asks_for_cleanup(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please suspend bob in Portainer", {"suspension"}),
        ("disable the account of alice, she left", {"suspension"}),
        ("lock ci-bot out of Portainer now", {"suspension"}),
        ("revoke all of mallory's API keys", {"suspension"}),
        ("open a ticket for CVE-2026-1234", {"ticket"}),
        ("can you file a Jira for the openssl CVE?", {"ticket"}),
        ("create an incident for shop/api", {"ticket"}),
        ("delete shop/api:1.0 and open a ticket for CVE-2026-1", {"cleanup", "ticket"}),
        ("who is bob in Portainer?", set()),
        ("don't suspend bob, just tell me his teams", set()),
        ("do not open a ticket; which CVEs matter?", set()),
        ("what does the ticket webhook do?", set()),
    ],
)
def test_suspension_and_ticket_requests_open_only_their_own_gate(text: str, expected: set[str]) -> None:
    assert asked_intents(text) == expected
    assert asks_for_suspension(text) == ("suspension" in expected)
    assert asks_for_ticket(text) == ("ticket" in expected)
