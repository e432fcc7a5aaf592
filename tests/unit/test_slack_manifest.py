"""manifest.yml creates the app the code expects: the slash command, events, scopes and Socket Mode."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.slack.app import SLASH_COMMAND
from bot.slack.assistant import SUGGESTED_PROMPTS

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def test_manifest_matches_the_app() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    features, settings = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == [SLASH_COMMAND]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.im",
        "assistant_thread_started",
        "assistant_thread_context_changed",
        "app_home_opened",
    }
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {
        "app_mentions:read",
        "chat:write",
        "commands",
        "im:history",
        "assistant:write",
        "usergroups:read",
        "files:write",
    } <= scopes
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"]["home_tab_enabled"] is True  # bot/slack/home.py publishes it
    titles = {p["title"] for p in features["assistant_view"]["suggested_prompts"]}
    assert titles <= {p["title"] for p in SUGGESTED_PROMPTS}
