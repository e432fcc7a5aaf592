"""Issue 12 case 8: `regent serve` that cannot reach or use Slack says so and exits 2, never 70."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli import run_regent
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import SECRET as SIGNING_SECRET


def _closed_port() -> int:
    with socket.socket() as probe:  # bound, then closed: nothing listens there afterwards
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(tmp_path: Path, **env: str) -> tuple[int, str]:
    done = run_regent(
        "serve", "--host", "127.0.0.1", "--port", "0", state=tmp_path / "state", env=env, timeout=60
    )
    return done.returncode, done.stderr


def test_case8_an_unreachable_slack_api_is_named_at_start(tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{_closed_port()}/api/"
    code, stderr = _serve(
        tmp_path, SLACK_BOT_TOKEN="xoxb-start", SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=api
    )
    assert code == 2, stderr
    assert f"regent: cannot reach the Slack API at {api} (" in stderr and "check SLACK_API_URL" in stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert "xoxb-start" not in stderr


@pytest.mark.parametrize(
    ("tokens", "what"),
    [
        ({"SLACK_BOT_TOKEN": "not-a-bot-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET}, "auth.test"),
        ({"SLACK_BOT_TOKEN": "xoxb-start", "SLACK_APP_TOKEN": "not-an-app-token"}, "apps.connections.open"),
    ],
)
def test_case8_a_token_slack_refuses_is_named_at_start(
    tmp_path: Path, tokens: dict[str, str], what: str
) -> None:
    with FakeSlackApi() as fake:
        code, stderr = _serve(tmp_path, SLACK_API_URL=fake.api_url, **tokens)
        assert fake.calls(what), "the start-up call was never made"
    assert code == 2, stderr
    assert "regent: Slack refused the bot token or app token (invalid_auth)" in stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert not any(token in stderr for token in tokens.values() if "token" in token)
