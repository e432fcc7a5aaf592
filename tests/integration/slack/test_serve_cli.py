"""`regent serve` as a process: env-only secrets, HTTP mode on a port, /healthz, signed requests, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import SECRET, sign

REGENT = Path(sys.executable).with_name("regent")


def test_regent_serve_http_mode(tmp_path: Path) -> None:
    config = tmp_path / "regent.yml"
    config.write_text("slack:\n  approvers: {users: [U0APP]}\n  proposal_ttl_hours: 2\n")
    with FakeSlackApi() as fake:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "REGENT_STATE_DIR": str(tmp_path / "state"),
            "REGENT_CONFIG": str(config),
            "SLACK_BOT_TOKEN": "xoxb-cli-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        process = subprocess.Popen(
            [str(REGENT), "serve", "--host", "127.0.0.1", "--port", "0"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            line, match = "", None
            while match is None:
                line += process.stderr.readline()
                match = re.search(r"health on (http://127\.0\.0\.1:\d+)/healthz", line)
                assert process.poll() is None, line
            base = match.group(1)
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
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            leftover = process.stderr.read() if process.stderr else ""
        assert "xoxb-cli-test" not in line + leftover and SECRET not in line + leftover
