"""`/regent vulns` through the real Slack app (signed requests, fake Slack Web API), no language model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.app import build_app
from bot.config import Secrets, Settings, SlackEnv
from bot.serve.slack import SlackService
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import BOT_TOKEN, SECRET, SlackHarness
from tests.vulns.estate import Estate, regent


@pytest.fixture
def harness(estate: Estate, state: Path) -> Iterator[SlackHarness]:
    for args in (("feeds",), ("ingest", str(estate.reports))):
        assert regent("vulns", *args, state=state, config=estate.config).returncode == 0
    settings = Settings.model_validate(
        {
            "environments": {"production": ["prod-*"]},
            "vulns": {"approved_bases": ["docker.io/library/debian:13-slim"]},
        }
    )
    with FakeSlackApi() as fake, httpx.Client(timeout=10) as http:
        runtime = build_app(settings=settings, secrets=Secrets(), state_dir=state)
        env = SlackEnv(bot_token=SecretStr(BOT_TOKEN), signing_secret=SecretStr(SECRET), api_url=fake.api_url)
        service = SlackService(runtime, env)
        service.start()
        try:
            yield SlackHarness(fake, service, runtime.proposals, runtime.plans, runtime.audit, http)
        finally:
            service.stop()
            runtime.close()


def _reply(harness: SlackHarness, text: str) -> str:
    before = len(harness.fake.calls("response_url"))
    response = harness.command(text)
    assert response.status_code == 200 and "Working on" in response.json()["text"]
    reply = harness.fake.wait_for("response_url", before + 1)[-1]
    assert reply.ok and reply.args["response_type"] == "ephemeral"
    return json.dumps(reply.args["blocks"])


def test_fix_first_one_cve_and_one_image(harness: SlackHarness) -> None:
    overview = _reply(harness, "vulns")
    assert "Vulnerabilities: fix first" in overview and "CVE-2026-1001" in overview
    assert "Why CVE-2026-1001 is first: known exploited (CISA KEV" in overview
    assert overview.index("CVE-2026-1001") < overview.index("CVE-2026-2001") < overview.index("CVE-2026-6001")
    cve = _reply(harness, "vulns CVE-2026-1002")
    assert "known exploited (CISA KEV since 2026-11-01)" in cve and "shop/api:1.2.0" in cve
    image = _reply(harness, "vulns shop/api:1.2*")
    assert "platform/base:alpine-3.19.0" in image and "-2 / +1" in image  # the base upgrade row
    help_text = json.dumps(harness.command("").json())
    assert "/regent vulns [IMAGE|CVE]" in help_text
