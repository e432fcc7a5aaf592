"""Faults between `regent serve` and the LLM endpoint and the Slack Web API (fake OpenAI and fake Slack behind
fault proxies): the request is acked at once, retries are bounded (counted at the proxies), and the user
always gets either the answer or one clear line with a reference id, never a traceback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.app import build_app
from bot.config import LLMEnv, Secrets, Settings, SlackEnv
from bot.serve.slack import SlackService
from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import Call, FakeSlackApi
from tests.integration.slack.harness import BOT_TOKEN, CHANNEL, SECRET, sign

COMPLETIONS = "/v1/chat/completions"
LLM_TIMEOUT_S = 1.0


@dataclass
class Served:
    """`regent serve`'s composition with a fault proxy in front of the LLM and one in front of Slack."""

    llm: FakeOpenAI
    llm_proxy: FaultProxy
    slack: FakeSlackApi
    slack_proxy: FaultProxy
    service: SlackService
    http: httpx.Client

    def mention(self, text: str, *, event_id: str) -> float:
        """Deliver an app_mention; returns how long the ack took."""
        ts = "1700000000.000100"
        event = {
            "type": "app_mention",
            "user": "U0REQ",
            "text": f"<@U0BOT> {text}",
            "ts": ts,
            "channel": CHANNEL,
            "event_ts": ts,
            "team": "T0TEAM",
        }
        envelope = {
            "token": "legacy",
            "team_id": "T0TEAM",
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": "T0TEAM", "user_id": "U0BOT", "is_bot": True}],
        }
        body = json.dumps(envelope)
        start = time.monotonic()
        response = self.http.post(
            self.service.http.url + "/slack/events",
            content=body,
            headers={"Content-Type": "application/json", **sign(body)},
        )
        assert response.status_code == 200
        return time.monotonic() - start

    def final_text(self, timeout: float = 15.0) -> str:
        """The text the user ends up seeing: the placeholder's replacement, or a new message."""

        def final(call: Call) -> bool:
            return "Looking into it" not in str(call.args.get("text", ""))

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [
                c for c in self.slack.calls() if c.method in ("chat.update", "chat.postMessage") and final(c)
            ]
            if done:
                return json.dumps(done[-1].args)
            time.sleep(0.02)
        raise AssertionError(f"no answer; calls {[c.method for c in self.slack.calls()]}")


@contextmanager
def serve(tmp_path: Path) -> Iterator[Served]:
    with ExitStack() as stack:
        llm = stack.enter_context(FakeOpenAI())
        llm_proxy = stack.enter_context(FaultProxy(llm.url))
        slack = stack.enter_context(FakeSlackApi())
        slack_proxy = stack.enter_context(FaultProxy(slack.url))
        settings = Settings.model_validate(
            {"slack": {"approvers": {"users": ["U0APP"]}}, "llm": {"request_timeout_s": LLM_TIMEOUT_S}}
        )
        runtime = build_app(
            settings=settings,
            secrets=Secrets(llm=LLMEnv(base_url=llm_proxy.url + "/v1", api_key=SecretStr("sk-test"))),
            state_dir=tmp_path / "state",
        )
        stack.callback(runtime.close)
        env = SlackEnv(
            bot_token=SecretStr(BOT_TOKEN),
            signing_secret=SecretStr(SECRET),
            api_url=slack_proxy.url + "/api/",
        )
        service = SlackService(runtime, env)
        service.start()
        stack.callback(service.stop)
        http = stack.enter_context(httpx.Client(timeout=10))
        yield Served(llm, llm_proxy, slack, slack_proxy, service, http)


def assert_clear_failure(text: str, reason: str) -> None:
    assert reason in text and "Reference `" in text, text
    assert "Traceback" not in text and "sk-test" not in text and "127.0.0.1" not in text


def test_llm_5xx_gives_a_clear_message_after_one_retry(tmp_path: Path) -> None:
    with serve(tmp_path) as served:
        served.llm_proxy.always(("status", 500), method="POST", path=COMPLETIONS)
        assert served.mention("how big is shop/api?", event_id="Ev1") < 3.0
        text = served.final_text()
        assert served.llm_proxy.count("POST", COMPLETIONS) == 2  # the SDK's one retry, then it stops
    assert_clear_failure(text, "the language model endpoint failed (HTTP 500)")


def test_llm_429_with_retry_after_is_honoured_then_answers(tmp_path: Path) -> None:
    with serve(tmp_path) as served:
        served.llm.push({"content": "All 3 registries look fine."})
        served.llm_proxy.inject(("status", 429, {"Retry-After": "1"}), method="POST", path=COMPLETIONS)
        start = time.monotonic()
        served.mention("status?", event_id="Ev2")
        text = served.final_text()
        elapsed = time.monotonic() - start
        assert served.llm_proxy.count("POST", COMPLETIONS) == 2
    assert "All 3 registries look fine." in text and elapsed >= 1.0


@pytest.mark.parametrize("fault", [("reset",), ("truncate", 20)], ids=["reset", "truncated"])
def test_llm_broken_connection_is_retried_once(tmp_path: Path, fault: tuple[object, ...]) -> None:
    with serve(tmp_path) as served:
        # A truncated answer was produced upstream (and used a script step); a reset never got there.
        served.llm.push(*[{"content": "Answer after a broken connection."}] * 2)
        served.llm_proxy.inject(fault, method="POST", path=COMPLETIONS)
        served.mention("status?", event_id="Ev3")
        text = served.final_text()
        assert served.llm_proxy.count("POST", COMPLETIONS) == 2
    assert "Answer after a broken connection." in text


def test_llm_that_never_answers_in_time_is_cut_off(tmp_path: Path) -> None:
    with serve(tmp_path) as served:
        served.llm_proxy.always(("delay", 3 * LLM_TIMEOUT_S), method="POST", path=COMPLETIONS)
        start = time.monotonic()
        assert served.mention("status?", event_id="Ev4") < 3.0  # acked whatever the LLM does
        text = served.final_text(timeout=20)
        elapsed = time.monotonic() - start
        assert served.llm_proxy.count("POST", COMPLETIONS) == 2
    assert_clear_failure(text, "did not answer within 1 s")
    assert elapsed < 2 * LLM_TIMEOUT_S + 4.0  # two timed-out attempts and the SDK's short backoff


def test_slack_429_and_resets_are_retried_and_a_failed_update_falls_back_to_a_post(tmp_path: Path) -> None:
    with serve(tmp_path) as served:
        served.llm.push({"content": "Here is the answer."})
        served.slack_proxy.inject(
            ("status", 429, {"Retry-After": "1"}), ("reset",), method="POST", path="/api/chat.postMessage"
        )
        served.slack_proxy.inject(("status", 503), method="POST", path="/api/chat.update")
        start = time.monotonic()
        served.mention("status?", event_id="Ev5")
        answer = served.slack.wait_for("chat.postMessage", 2, timeout=15)[-1]
        elapsed = time.monotonic() - start
        posts = served.slack_proxy.count("POST", "/api/chat.postMessage")
        updates = served.slack_proxy.count("POST", "/api/chat.update")
    assert "Here is the answer." in json.dumps(answer.args)
    assert posts == 4  # placeholder: 429, reset, ok; then the answer as a new post
    assert updates == 1  # the 503 on replacing the placeholder is not retried (not idempotent)
    assert elapsed >= 1.0
