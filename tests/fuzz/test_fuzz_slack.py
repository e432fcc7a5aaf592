"""Slack payloads: block_actions clicks (Approve/Reject, the digest's proposal button), slash commands,
mentions, DMs and assistant threads, as the listeners read them. Any shape gives a click, a command or a
question with plain-text fields (or nothing to do), never an exception in a listener; the help answer to
any typed text stays inside Block Kit's limits."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.slack.app import RegentSlack
from bot.slack.approval_flow import click_from_body
from bot.slack.blocks import report_message
from bot.slack.commands import help_report, parse_command
from bot.slack.conversation import strip_mentions
from bot.slack.digest_actions import propose_click_from_body
from tests.fakes.slack_api import check_message
from tests.fuzz.samples import BLOCK_ACTIONS, SLASH_COMMAND
from tests.fuzz.strategies import HOSTILE_STRINGS, fuzz_settings, json_values, mutated

payloads = st.one_of(mutated(BLOCK_ACTIONS, times=3), mutated(SLASH_COMMAND, times=3), json_values)
typed = st.one_of(
    st.text(max_size=80), st.sampled_from(HOSTILE_STRINGS), st.text(max_size=5).map(lambda t: t * 5000)
)


def _plain(value: object) -> bool:
    return value is None or isinstance(value, str)


@fuzz_settings(300)
@given(body=payloads)
def test_clicks_are_read_from_any_shape(body: Any) -> None:
    body = body if isinstance(body, dict) else {"payload": body}
    click = click_from_body(body, decision="approve")
    assert isinstance(click.proposal_id, str) and isinstance(click.user, str)
    assert all(_plain(v) for v in (click.channel, click.message_ts, click.thread_ts))
    propose = propose_click_from_body(body)
    assert isinstance(propose.plan_id, str) and isinstance(propose.team, str)
    assert _plain(propose.channel) and _plain(propose.message_ts)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def submit(self, work: Any) -> bool:
        self.calls.append(work)
        return True

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append((args, kwargs))


def _listener_self() -> SimpleNamespace:
    return SimpleNamespace(
        tasks=_Recorder(),
        answers=_Recorder(),
        _ask=_Recorder(),
        client=None,
        desk=SimpleNamespace(post_cards=_Recorder()),
        services=SimpleNamespace(commands=None, deduper=SimpleNamespace(first_time=lambda _id: True)),
        _upload=_Recorder(),
    )


@fuzz_settings(300)
@given(
    body=payloads,
    event=st.one_of(mutated({"type": "app_mention", "text": "<@U1> hi", "ts": "1.2"}), json_values),
)
def test_listeners_take_any_event_and_body(body: Any, event: Any) -> None:
    body = body if isinstance(body, dict) else {}
    event = event if isinstance(event, dict) else {}  # Bolt routes only objects to a listener
    me = _listener_self()
    RegentSlack._on_mention(me, body, event)  # type: ignore[arg-type]
    RegentSlack._on_message(me, body, {**event, "channel_type": "im"})  # type: ignore[arg-type]
    RegentSlack._on_thread_started(me, event)  # type: ignore[arg-type]
    ack = _Recorder()
    RegentSlack._on_command(me, ack, body, _Recorder())  # type: ignore[arg-type]
    assert ack.calls  # every slash command is acknowledged
    for question in [args[0] for args, _ in me._ask.calls]:
        assert isinstance(question.text, str) and isinstance(question.conversation, str)


@fuzz_settings(300)
@given(text=typed)
def test_any_typed_command_gets_an_answer_slack_accepts(text: str) -> None:
    name, argument = parse_command(text)
    assert name == name.lower() and argument == argument.strip()
    payload = report_message(help_report(unknown=name)).payload()
    assert check_message(payload) is None, check_message(payload)
    assert "<@U0123>" not in strip_mentions(f"<@U0123> {text}")
