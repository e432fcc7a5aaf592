"""`regent serve` as a process: env-only secrets, HTTP mode on a port, /healthz, signed requests, SIGTERM."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.cli import serving_regent
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import SECRET, sign


def test_regent_serve_http_mode(tmp_path: Path) -> None:
    config = tmp_path / "regent.yml"
    config.write_text("slack:\n  approvers: {users: [U0APP]}\n  proposal_ttl_hours: 2\n")
    with FakeSlackApi() as fake:
        env = {
            "REGENT_STATE_DIR": str(tmp_path / "state"),
            "REGENT_CONFIG": str(config),
            "SLACK_BOT_TOKEN": "xoxb-cli-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving_regent(env, home=tmp_path) as served:
            base = served.base
            with httpx.Client(timeout=5) as http:
                health = http.get(f"{base}/healthz").json()
                assert health == {"ok": True, "mode": "http", "socket_connected": None, "llm": False}
                body = urlencode(
                    {
                        "command": "/regent",
                        "text": "help",
                        "user_id": "U0REQ",
                        "channel_id": "C1",
                        "team_id": "T0TEAM",
                        "response_url": fake.hook_url(),
                    }
                )
                headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
                reply = http.post(f"{base}/slack/events", content=body, headers=headers)
                assert reply.status_code == 200 and "/regent plan" in json.dumps(reply.json())
                headers["X-Slack-Signature"] = "v0=" + "1" * 64
                assert http.post(f"{base}/slack/events", content=body, headers=headers).status_code == 401
                assert http.get(f"{base}/nowhere").status_code == 404
            assert fake.calls("auth.test")[0].authorization == "Bearer xoxb-cli-test"
        assert "xoxb-cli-test" not in served.stderr and SECRET not in served.stderr
