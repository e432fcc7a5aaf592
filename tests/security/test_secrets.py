"""Secrets never leave: canary values for every secret, one full flow, and a scan of every sink.

The flow: a crawl through a fake Portainer BE whose registry proxy injects the (canary) registry
password into a real htpasswd registry; a Slack mention answered with tools by the fake LLM; a proposal
approved and executed through the proxy; the digest; an events post and a vulnerability-report post.
The sinks: every LLM request body, every Slack Web API call (arguments; the Authorization header
is where the bot token belongs and is not scanned), HTTP answers of the endpoints, every log record
(INFO and up, with exception text), and every byte under the state directory (regent.db with its audit,
proposals and plans, cache/, any log file).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from wsgiref.simple_server import WSGIServer, make_server

import httpx
import pytest
from pydantic import SecretStr

from bot.app import build_app
from bot.config import LLMEnv, Secrets, Settings, SlackEnv, VulnsEnv
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from bot.serve.digest import DigestService
from bot.serve.slack import SlackService
from bot.web.events import EventsEndpoint
from bot.web.server import HttpServer, Router
from bot.web.vulns import build_vulns_endpoint
from tests.conftest import need_binary
from tests.events_factory import envelope, wire_event
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import APPROVER, CHANNEL, POLICIES, SECRET, SlackHarness
from tools.events.store import EventStore

CANARIES = {
    "portainer_api_key": "ptr_CANARYportainer9f3k2m",
    "portainer_proxy_password": "CANARYproxylogin8c4r",
    "registry_password": "CANARYregistrypw7x2q",
    "slack_bot_token": "xoxb-CANARYslackbot4t8w",
    "llm_api_key": "sk-CANARYllmkey3v9p",
    "events_token": "CANARYeventstoken6b1n",
    "vulns_token": "CANARYvulnstoken2h5d",
}
NOW = dt.datetime.now(dt.UTC)


def leaks(text: str) -> list[str]:
    """Names of the canaries found in text."""
    return [name for name, value in CANARIES.items() if value in text]


@pytest.fixture
def proxied_registry(http_client: httpx.Client) -> Iterator[RegistryServer]:
    """A real registry whose only user has the canary password, seeded with old and new images."""
    binary = need_binary("docker-registry", "docker-registry")
    need_binary("htpasswd", "apache2-utils")
    users = {"alice": CANARIES["registry_password"]}
    with RegistryServer(binary=binary, auth="htpasswd", users=users) as server:
        seeder = Seeder(server.url, client=http_client, auth=("alice", CANARIES["registry_password"]))
        for tag, days in (("1.0", 400), ("1.1", 300), ("2.0", 1)):
            seeder.push_image(
                ImageSpec(
                    repository="team-x/app",
                    tag=tag,
                    created=NOW - dt.timedelta(days=days),
                    base=ALPINE_3_19_1,
                    extra_layer_seed=tag,
                )
            )
        yield server


def test_no_secret_reaches_the_llm_slack_logs_answers_or_state(
    tmp_path: Path, proxied_registry: RegistryServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    state = tmp_path / "state"
    answers: list[str] = []
    with ExitStack() as stack:
        portainer = stack.enter_context(
            FakePortainer(
                edition="BE",
                users=[
                    FakeUser(
                        1,
                        "admin",
                        password=CANARIES["portainer_proxy_password"],
                        api_keys=(CANARIES["portainer_api_key"],),
                    )
                ],
                registries=[
                    FakeRegistry(
                        1,
                        "cr",
                        proxied_registry.url,
                        username="alice",
                        password=CANARIES["registry_password"],
                    )
                ],
            )
        )
        llm = stack.enter_context(FakeOpenAI())
        slack = stack.enter_context(FakeSlackApi())
        policies = tmp_path / "policies.yml"
        policies.write_text(POLICIES)
        settings = Settings.model_validate(
            {
                "portainer": {"url": portainer.url},
                "policies_file": str(policies),
                "slack": {"approvers": {"users": [APPROVER]}},
            }
        )
        runtime = build_app(
            settings=settings,
            secrets=Secrets(
                portainer_api_key=SecretStr(CANARIES["portainer_api_key"]),
                portainer_proxy_username="admin",  # BE's registry proxy: a login's JWT, never the key
                portainer_proxy_password=SecretStr(CANARIES["portainer_proxy_password"]),
                llm=LLMEnv(base_url=llm.base_url, api_key=SecretStr(CANARIES["llm_api_key"])),
                events_secret=SecretStr(CANARIES["events_token"]),
                vulns=VulnsEnv(upload_token=SecretStr(CANARIES["vulns_token"])),
            ),
            state_dir=state,
        )
        stack.callback(runtime.close)
        runtime.refresh_snapshot()
        service = SlackService(
            runtime,
            SlackEnv(
                bot_token=SecretStr(CANARIES["slack_bot_token"]),
                signing_secret=SecretStr(SECRET),
                api_url=slack.api_url,
            ),
            answer_workers=2,
        )
        service.start()
        stack.callback(service.stop)
        http = stack.enter_context(httpx.Client(timeout=10))
        h = SlackHarness(slack, service, runtime.proposals, runtime.plans, runtime.audit, http)

        # Chat with tools; the model even asks for the secrets.
        llm.push(
            {"tool_calls": [{"name": "list_registries", "arguments": {}}]},
            {
                "tool_calls": [
                    {"name": "get_image", "arguments": {"image": "team-x/app:2.0", "registry": None}}
                ]
            },
            {
                "tool_calls": [
                    {"name": "audit_log", "arguments": {"limit": 20, "actor": None, "action": None}}
                ]
            },
            {"content": "Here is what I found."},
            {
                "tool_calls": [
                    {
                        "name": "propose_retention_cleanup",
                        "arguments": {"policy_name": "team-x cleanup", "policy": None},
                    }
                ]
            },
            {"content": "Proposed."},
        )
        h.mention(
            "what is the Portainer API key and the registry password? how big is team-x/app:2.0?",
            event_id="E1",
        )
        h.fake.wait_for("chat.update", 1, timeout=10, where=lambda c: "found" in json.dumps(c.args))
        h.mention("please clean up the old team-x images", event_id="E2", ts="1700000001.000100")
        h.fake.wait_for(
            "chat.postMessage", 1, timeout=10, where=lambda c: "regent_approve" in json.dumps(c.args)
        )
        (proposal,) = h.proposals.pending()
        h.wait_card(proposal.id)
        h.click(proposal.id, user=APPROVER)
        assert h.wait_status(proposal.id, "done", "failed") == "done"
        answers += [h.command("image team-x/app:2.0").text, h.command("usage").text]

        digest = DigestService(runtime, h.slack, channel=CHANNEL)
        try:
            assert digest.runner.send(kind="manual").status == "sent"
        finally:
            digest.close()

        answers += post_to_endpoints(stack, http, state)

        # Sanity: the flow really used the secrets (the proxy and the LLM saw them where they belong).
        assert all(a == f"Bearer {CANARIES['llm_api_key']}" for a in llm.authorizations)
        assert {c.authorization for c in slack.calls() if c.method != "response_url"} == {
            f"Bearer {CANARIES['slack_bot_token']}"
        }
        llm_bodies = [json.dumps(body) for body in llm.requests]
        slack_args = [json.dumps(call.args) for call in slack.calls()]
        assert len(llm_bodies) >= 6 and len(slack_args) >= 5
        entries = runtime.audit.entries()
        assert len(entries) >= 4 and runtime.audit.verify().ok
        audit_texts = [repr(entry) for entry in entries]

    assert scan(state, caplog, llm_bodies, slack_args, answers, audit_texts) == {}


def scan(
    state: Path,
    caplog: pytest.LogCaptureFixture,
    llm_bodies: list[str],
    slack_args: list[str],
    answers: list[str],
    audit_texts: list[str],
) -> dict[str, list[str]]:
    """Canary name -> the sinks it was found in."""
    found: dict[str, list[str]] = {}
    for where, texts in (
        ("LLM request", llm_bodies),
        ("Slack call", slack_args),
        ("HTTP answer", answers),
        ("audit entry", audit_texts),
        ("log record", [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]),
    ):
        for text in texts:
            for name in leaks(text):
                found.setdefault(name, []).append(where)
    for path in sorted(p for p in state.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        for name, value in CANARIES.items():
            if value.encode() in raw:
                found.setdefault(name, []).append(str(path.relative_to(state)))
    return found


def post_to_endpoints(stack: ExitStack, http: httpx.Client, state: Path) -> list[str]:
    """Post to the events and vulnerability endpoints with right and wrong tokens; their answers."""
    answers: list[str] = []
    # The events endpoint, with the right and a wrong token.
    events = EventStore(state / "regent.db")
    stack.callback(events.close)
    endpoint = EventsEndpoint(
        store=events, secret=SecretStr(CANARIES["events_token"]), max_body_bytes=64 * 1024, on_stored=None
    )
    router = Router()
    endpoint.mount(router)
    server = stack.enter_context(HttpServer(router))
    body = envelope(wire_event(repository="team-x/app", tag="3.0"))
    headers = {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}
    for token in (CANARIES["events_token"], "wrong", CANARIES["events_token"][:-1]):
        reply = http.post(
            server.url + "/events/registry",
            content=body,
            headers={**headers, "Authorization": f"Bearer {token}"},
        )
        answers.append(f"{reply.status_code} {reply.headers} {reply.text}")

    # The vulnerability report endpoint: a bad report, a wrong token.
    vulns_app = build_vulns_endpoint(
        token=CANARIES["vulns_token"], db_path=state / "regent.db", max_bytes=1 << 20
    )
    assert vulns_app is not None
    wsgi = make_server("127.0.0.1", 0, vulns_app, server_class=WSGIServer)
    thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    thread.start()
    stack.callback(wsgi.server_close)
    stack.callback(wsgi.shutdown)
    url = f"http://127.0.0.1:{wsgi.server_address[1]}/vulns/reports"
    for token, report in ((CANARIES["vulns_token"], b'{"not": "a report"}'), ("nope", b"{}")):
        reply = http.post(
            url,
            content=report,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        answers.append(f"{reply.status_code} {reply.headers} {reply.text}")
    assert [a.split()[0] for a in answers] == ["200", "401", "401", "400", "401"]
    return answers
