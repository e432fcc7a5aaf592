"""`regent serve`'s composition (runtime + SlackService) on 127.0.0.1 against the fake Slack Web API.

Inbound requests are signed like Slack signs them; outbound Web API calls land in FakeSlackApi. The
runtime is the real one in a temp state dir: it crawls the real registry, stores plans and proposals,
and executes approved plans against the registry; the LLM, when there is one, is tests/fakes/openai_server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from bot.app import build_app
from bot.approvals import ProposalStore
from bot.approvals.audit import AuditLog
from bot.config import LLMEnv, Secrets, Settings, SlackEnv
from bot.serve.slack import SlackService
from bot.slack.app import RegentSlack
from bot.slack.connect import EVENTS_PATH
from tests.fakes.slack_api import TEAM, FakeSlackApi
from tools.policy.store import PlanStore

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
REQUESTER, APPROVER, APPROVER_2, OUTSIDER, GROUPIE = "U0REQ", "U0APP", "U0APP2", "U0OUT", "U0GRP"
APPROVER_GROUP = "S0OPS"
CHANNEL = "C0OPS"


def sign(body: str, *, secret: str = SECRET, ts: str | None = None) -> dict[str, str]:
    """Slack's request signature headers for a raw body."""
    ts = ts or str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


@dataclass
class SlackHarness:
    """Everything a Slack integration test touches."""

    fake: FakeSlackApi
    service: SlackService
    proposals: ProposalStore
    plans: PlanStore
    audit: AuditLog
    http: httpx.Client

    @property
    def slack(self) -> RegentSlack:
        """The Bolt app and its pools."""
        return self.service.slack

    @property
    def events_url(self) -> str:
        """Where Slack would POST."""
        return self.service.http.url + EVENTS_PATH

    def post(self, body: str, content_type: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """POST a signed request (headers override the signature, e.g. to break it)."""
        all_headers = {"Content-Type": content_type, **sign(body), **(headers or {})}
        return self.http.post(self.events_url, content=body, headers=all_headers)

    def event(self, event: dict[str, Any], *, event_id: str, retry: int | None = None) -> httpx.Response:
        """Deliver an Events API callback."""
        envelope = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": "U0BOT", "is_bot": True}],
        }
        extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return self.post(json.dumps(envelope), "application/json", extra)

    def mention(
        self, text: str, *, user: str = REQUESTER, event_id: str, ts: str = "1700000000.000100"
    ) -> httpx.Response:
        """An app_mention in the ops channel."""
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@U0BOT> {text}",
            "ts": ts,
            "channel": CHANNEL,
            "event_ts": ts,
            "team": TEAM,
        }
        return self.event(event, event_id=event_id)

    def click(
        self, proposal_id: str, *, user: str, approve: bool = True, message_ts: str | None = None
    ) -> httpx.Response:
        """An Approve/Reject click on a card."""
        proposal = self.proposals.get(proposal_id)
        ts = message_ts or (proposal.message_ts if proposal else None) or "1790000000.000001"
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0APP",
            "team": {"id": TEAM, "domain": "acme"},
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
            "channel": {"id": CHANNEL, "name": "ops"},
            "message": {"type": "message", "ts": ts, "text": "card"},
            "trigger_id": "1.2.3",
            "response_url": self.fake.hook_url("actions/T0TEAM/1/x"),
            "actions": [
                {
                    "type": "button",
                    "action_id": "regent_approve" if approve else "regent_reject",
                    "block_id": f"proposal:{proposal_id}",
                    "value": proposal_id,
                    "action_ts": str(time.time()),
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded")

    def command(self, text: str, *, user: str = REQUESTER) -> httpx.Response:
        """A `/regent` slash command."""
        fields = {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "acme",
            "channel_id": CHANNEL,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/regent",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": self.fake.hook_url(),
            "trigger_id": "1.2.3",
        }
        return self.post(urlencode(fields), "application/x-www-form-urlencoded")

    def wait_card(self, proposal_id: str, timeout: float = 5.0) -> str:
        """The ts of a proposal's card, once posted and remembered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proposal = self.proposals.get(proposal_id)
            if proposal is not None and proposal.message_ts:
                return proposal.message_ts
            time.sleep(0.02)
        raise AssertionError(f"no card for {proposal_id}")

    def wait_status(self, proposal_id: str, *statuses: str, timeout: float = 10.0) -> str:
        """Poll the store until the proposal reaches one of these statuses."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proposal = self.proposals.get(proposal_id)
            if proposal is not None and proposal.status in statuses:
                return proposal.status
            time.sleep(0.02)
        raise AssertionError(f"{proposal_id} never reached {statuses}")


POLICIES = """
policies:
  - name: team-x cleanup
    repositories: ["team-x/**"]
    keep:
      - most_recent: 1
    delete:
      - older_than_days: 90
"""


@contextmanager
def start_slack(
    tmp_path: Path,
    *,
    registry_url: str | None = None,
    llm_url: str | None = None,
    socket_url: str | None = None,
    slack: Mapping[str, Any] | None = None,
    answer_workers: int = 4,
    settings_extra: Mapping[str, Any] | None = None,
    secrets: Secrets | None = None,
) -> Iterator[SlackHarness]:
    """The real composition (runtime + SlackService) against the fakes; everything stops afterwards."""
    with ExitStack() as stack:
        fake = stack.enter_context(FakeSlackApi())
        fake.state.usergroups[APPROVER_GROUP] = [GROUPIE]
        fake.state.socket_url = socket_url
        policies = tmp_path / "policies.yml"
        policies.write_text(POLICIES)
        slack_config = {"approvers": {"users": [APPROVER, APPROVER_2], "usergroups": [APPROVER_GROUP]}}
        settings = Settings.model_validate(
            {
                "registries": [{"name": "local", "url": registry_url}] if registry_url else [],
                "policies_file": str(policies),
                "slack": slack_config | dict(slack or {}),
                **dict(settings_extra or {}),
            }
        )
        secrets = secrets or Secrets()
        if llm_url:
            llm_env = LLMEnv(base_url=llm_url, api_key=SecretStr("sk-test"))
            secrets = secrets.model_copy(update={"llm": llm_env})
        runtime = build_app(settings=settings, secrets=secrets, state_dir=tmp_path / "state")
        stack.callback(runtime.close)
        if registry_url:
            runtime.refresh_snapshot()
        env = SlackEnv(
            bot_token=SecretStr(BOT_TOKEN),
            app_token=SecretStr("xapp-1-test") if socket_url else None,
            signing_secret=SecretStr(SECRET),
            api_url=fake.api_url,
        )
        service = SlackService(runtime, env, answer_workers=answer_workers)
        service.start()
        stack.callback(service.stop)
        http = stack.enter_context(httpx.Client(timeout=10))
        yield SlackHarness(fake, service, runtime.proposals, runtime.plans, runtime.audit, http)
