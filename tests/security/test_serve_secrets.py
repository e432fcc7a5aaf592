"""Invariant 4 end to end through `regent serve` as a process (issue 11's done-when).

Every secret variable the README lists (and the registry and ticket variables the config names) is set to
a canary; the same canaries are planted as labels of the image the user asks about. The process is the
real `regent serve` in Socket Mode (fake Slack Web API, local Socket Mode websocket), with the fake LLM
scripted to read the labelled image and to propose a ticket, a real htpasswd registry whose user and
password are canaries, a fake Portainer accepting the canary key, and a local tracker for the ticket.

Each canary must reach only what it belongs to (observed where cheap: LLM and Slack Authorization
headers, the tracker's Authorization, the webhooks accepting their tokens, the crawl passing the
registry's and Portainer's auth) and nothing else: every LLM request body, every Slack Web API call's
arguments and every Socket Mode ack, the webhooks' answers, the tracker's body, serve's stderr (at debug
level), `regent.log`, `regent audit --json`, and every row of the state database except the tables that
cache registry and scanner data (the labels are registry data there, by design).

Not every canary has a use in this process: Socket Mode needs no signing secret, and
REGENT_REGISTRY_USERNAME / _PASSWORD serve `--registry` flags that `serve` has not. They are loaded all
the same, so their labels are redacted, and they are scanned for like the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_1, ImageSpec, Seeder
from tests.cli import run_regent
from tests.conftest import need_binary
from tests.events_factory import envelope, wire_event
from tests.fakes.http_server import BackgroundServer, QuietHandler
from tests.fakes.openai_server import FakeOpenAI, tool_messages
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeUser
from tests.fakes.slack_api import TEAM, FakeSlackApi
from tests.fakes.slack_socket import FakeSocketMode
from tests.integration.agent_harness import call
from tests.vulns.scanner import Vuln, read_image, trivy_report

pytestmark = pytest.mark.real

REGISTRY_USER_ENV, REGISTRY_PASSWORD_ENV = "REGENT_LOCAL_REGISTRY_USER", "REGENT_LOCAL_REGISTRY_PASSWORD"
TICKET_TOKEN_ENV = "REGENT_TICKET_TOKEN"
# Variable -> canary. Slack, LLM and Portainer canaries keep the vendor prefixes (the fakes check them).
CANARIES = {
    "PORTAINER_API_KEY": "ptr_CANARY-portainer-k7Qm2x",
    "REGENT_REGISTRY_USERNAME": "CANARY-flaguser-p3Jd8w",
    "REGENT_REGISTRY_PASSWORD": "CANARY-flagpass-9Xv1rT",
    REGISTRY_USER_ENV: "CANARY-reguser-5Hn4bZ",
    REGISTRY_PASSWORD_ENV: "CANARY-regpass-2Wc8yL",
    "SLACK_BOT_TOKEN": "xoxb-CANARY-bot-6Rt3sP",
    "SLACK_APP_TOKEN": "xapp-CANARY-app-4Gf7nQ",
    "SLACK_SIGNING_SECRET": "CANARY-signing-8Lk2vD",
    "OPENAI_API_KEY": "sk-CANARY-llm-3Bz9hM",
    "REGENT_EVENTS_SECRET": "CANARY-events-7Yp5cK",
    "REGENT_VULNS_TOKEN": "CANARY-vulns-1Nq6tF",
    TICKET_TOKEN_ENV: "CANARY-ticket-5Dm2xW",
}
REPOSITORY, TAG, CVE = "team-x/app", "2.0", "CVE-2026-4242"
IMAGE = f"{REPOSITORY}:{TAG}"
REQUESTER, APPROVER, CHANNEL = "U0REQ", "U0APP", "C0OPS"
MARKER_LABEL = ("org.opencontainers.image.title", "regent-serve-secrets-probe")  # shows labels got through
# Usernames identify, they do not authenticate: Secrets.values() does not redact them (a user called
# "jenkins" would otherwise blank every image name containing it), so they are not planted in labels.
# They are still canaries: Regent itself must never send them to the LLM, Slack, a log or the audit log.
IDENTIFIERS = frozenset({"REGENT_REGISTRY_USERNAME", REGISTRY_USER_ENV})
LABELS = {f"leak.{name.lower()}": CANARIES[name] for name in CANARIES if name not in IDENTIFIERS}
LABELS |= dict([MARKER_LABEL])
# State tables that cache what registries and scanners hold: the planted labels are there by design.
REGISTRY_DATA = re.compile(r"^(snapshots|registry_stats|tag_digests|first_seen|vuln_.*|event_.*)$")
WAIT = 30.0


class Tracker(BackgroundServer):
    """The ticket webhook: records path, headers and body of every POST, answers 201 like Jira."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], str]] = []
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                owner.received.append((self.path, dict(self.headers.items()), body))
                self.send_body(201, b'{"key":"SEC-7"}', {"Content-Type": "application/json"})

        super().__init__(Handler)


@dataclass
class World:
    """The real and fake parts, the config, the env with every canary, and what was observed."""

    registry: RegistryServer
    portainer: FakePortainer
    llm: FakeOpenAI
    slack: FakeSlackApi
    socket: FakeSocketMode
    tracker: Tracker
    tmp: Path
    env: dict[str, str]
    texts: dict[str, list[str]] = field(default_factory=dict)  # sink -> texts that must hold no canary

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def record(self, sink: str, text: str) -> None:
        self.texts.setdefault(sink, []).append(text)


@pytest.fixture
def world(tmp_path: Path, http_client: httpx.Client) -> Iterator[World]:
    binary = need_binary("docker-registry", "docker-registry")
    need_binary("htpasswd", "apache2-utils")
    users = {CANARIES[REGISTRY_USER_ENV]: CANARIES[REGISTRY_PASSWORD_ENV]}
    with ExitStack() as stack:
        registry = stack.enter_context(RegistryServer(binary=binary, auth="htpasswd", users=users))
        portainer = stack.enter_context(
            FakePortainer(users=[FakeUser(1, "admin", api_keys=(CANARIES["PORTAINER_API_KEY"],))])
        )
        llm, slack = stack.enter_context(FakeOpenAI()), stack.enter_context(FakeSlackApi())
        socket, tracker = stack.enter_context(FakeSocketMode()), stack.enter_context(Tracker())
        slack.state.socket_url = socket.url
        config = tmp_path / "regent.yml"
        config.write_text(
            f"portainer: {{url: '{portainer.url}'}}\n"
            f"registries:\n  - {{name: local, url: '{registry.url}', username_env: {REGISTRY_USER_ENV},"
            f" password_env: {REGISTRY_PASSWORD_ENV}}}\n"
            f"slack:\n  approvers: {{users: [{APPROVER}]}}\n"
            f"vulns:\n  ticket: {{url: '{tracker.url}/hooks/tickets', preset: generic,"
            f" token_env: {TICKET_TOKEN_ENV}}}\n"
        )
        env = {"REGENT_CONFIG": str(config), "SLACK_API_URL": slack.api_url, "OPENAI_BASE_URL": llm.base_url}
        yield World(registry, portainer, llm, slack, socket, tracker, tmp_path, env | CANARIES)


def test_serve_keeps_every_secret_where_it_belongs(world: World, http_client: httpx.Client) -> None:
    seed_and_crawl(world, http_client)
    with serving(world) as base:
        upload_report_and_event(world, http_client, base)
        ask_about_the_labels(world)
        proposal_button = ask_for_a_ticket(world)
        approve(world, proposal_button)
    collect_state(world)

    assert_secrets_were_used(world)
    found = {
        f"{name} in {sink}": sum(CANARIES[name] in text for text in texts)
        for sink, texts in world.texts.items()
        for name in CANARIES
        if any(CANARIES[name] in text for text in texts)
    }
    assert found == {}, f"canaries leaked (design invariants 4 and 9): {found}"


def seed_and_crawl(world: World, http_client: httpx.Client) -> None:
    """Push the labelled image as the registry's canary user; crawl with `regent inventory` (a process)."""
    auth = (CANARIES[REGISTRY_USER_ENV], CANARIES[REGISTRY_PASSWORD_ENV])
    seeder = Seeder(world.registry.url, client=http_client, auth=auth)
    try:
        created = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        spec = ImageSpec(repository=REPOSITORY, tag=TAG, created=created, labels=LABELS, base=ALPINE_3_19_1)
        seeder.push_image(spec)
    finally:
        seeder.close()
    crawled = run_regent("inventory", "--json", "--no-progress", state=world.state, env=world.env)
    world.record("inventory output", crawled.stdout + crawled.stderr)
    assert crawled.returncode == 0, crawled.stderr
    inventory = json.loads(crawled.stdout)
    # The registry's htpasswd and Portainer's key checks passed: both canaries were sent where they belong.
    (local,) = inventory["registries"]
    assert local["tags"] == 1 and not local["errors"] and not inventory["errors"], crawled.stdout
    assert world.portainer.log, "Portainer was never asked"


@contextmanager
def serving(world: World) -> Iterator[str]:
    """`regent -v serve` as a process (stderr to a file), Socket Mode connected; SIGTERM must exit 0."""
    stderr_path = world.tmp / "serve-stderr.txt"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(world.tmp), "REGENT_STATE_DIR": str(world.state)}
    regent = Path(sys.executable).with_name("regent")
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [str(regent), "-v", "serve", "--host", "127.0.0.1", "--port", "0"],
            env=env | world.env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=world.tmp,
        )
    try:
        deadline, match = time.monotonic() + WAIT, None
        while match is None:
            text = stderr_path.read_text(errors="replace")
            assert process.poll() is None and time.monotonic() < deadline, text[-4000:]
            match = re.search(r"health on (http://127\.0\.0\.1:\d+)/healthz", text)
            time.sleep(0.05)
        world.socket.wait_connected(timeout=WAIT)
        yield match.group(1)
    finally:
        world.socket.drop()  # as Slack closes it: the app's own close() then returns at once
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=WAIT)
        world.record("serve stderr", stderr_path.read_text(errors="replace"))
    assert code == 0, stderr_path.read_text(errors="replace")[-4000:]


def upload_report_and_event(world: World, http: httpx.Client, base: str) -> None:
    """A Trivy report for the image through POST /vulns/reports and a registry event, with the canaries."""
    auth = (CANARIES[REGISTRY_USER_ENV], CANARIES[REGISTRY_PASSWORD_ENV])
    with httpx.Client(auth=auth, timeout=10) as registry_http:
        image = read_image(
            registry_http, world.registry.url, world.registry.host, f"{world.registry.host}/{IMAGE}"
        )
    report = json.dumps(
        trivy_report(image, [Vuln(CVE, "libcrypto3", "3.1.4-r1", 0, "CRITICAL", 9.8, fixed="3.1.4-r5")])
    )
    vulns = f"{base}/vulns/reports?source=ci"
    json_type = {"Content-Type": "application/json"}
    for token, expected in (("wrong-token", 401), (CANARIES["REGENT_VULNS_TOKEN"], 201)):
        reply = http.post(vulns, content=report, headers=json_type | {"Authorization": f"Bearer {token}"})
        world.record("HTTP answers", f"{reply.status_code} {reply.headers} {reply.text}")
        assert reply.status_code == expected, reply.text
    assert reply.json()["matched"], reply.text  # matched to the crawled image: the CVE is in the triage
    event = envelope(wire_event(repository="team-x/app", tag="2.1"))
    event_type = {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}
    for token, expected in (("wrong-token", 401), (CANARIES["REGENT_EVENTS_SECRET"], 200)):
        reply = http.post(
            f"{base}/events/registry",
            content=event,
            headers=event_type | {"Authorization": f"Bearer {token}"},
        )
        world.record("HTTP answers", f"{reply.status_code} {reply.headers} {reply.text}")
        assert reply.status_code == expected, reply.text


def quote_labels(body: dict[str, Any]) -> dict[str, Any]:
    """The worst model: it repeats every label it was given, so whatever reached it reaches Slack."""
    result = json.loads(tool_messages(body)[-1]["content"])
    return {"content": "Labels seen: " + ", ".join(f"{x['key']}={x['value']}" for x in result["labels"])}


def mention(world: World, event_id: str, ts: str, text: str) -> None:
    """An app_mention in the channel's thread 1700000000.000100, over Socket Mode; waits for the ack."""
    event = {
        "type": "app_mention",
        "user": REQUESTER,
        "text": f"<@U0BOT> {text}",
        "ts": ts,
        "thread_ts": "1700000000.000100",
        "channel": CHANNEL,
        "event_ts": ts,
    }
    payload = {
        "type": "event_callback",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
    }
    world.socket.wait_ack(world.socket.send("events_api", payload), timeout=WAIT)


def ask_about_the_labels(world: World) -> None:
    """The model reads the labelled image; what it got back must be redacted, the marker label not."""
    world.llm.push(call("get_image", image=IMAGE, registry=None), quote_labels)
    mention(world, "EvLabels", "1700000000.000100", f"what labels does {IMAGE} have?")
    world.slack.wait_for("chat.update", timeout=WAIT, where=lambda c: "Labels seen" in json.dumps(c.args))
    got = json.loads(tool_messages(world.llm.requests[1])[-1]["content"])
    labels = {label["key"]: label["value"] for label in got["labels"]}
    assert labels[MARKER_LABEL[0]] == MARKER_LABEL[1]  # the labels really reached the model
    unredacted = sorted(key for key in LABELS if key.startswith("leak.") and labels.get(key) != "[redacted]")
    assert unredacted == [], f"labels holding a secret that were not redacted: {unredacted}"


def ask_for_a_ticket(world: World) -> dict[str, Any]:
    """The user asks for a ticket; the model proposes it; the card's Approve button is returned."""
    world.llm.push(
        call("propose_ticket", cve=CVE, image=None, reason="critical, fix available"),
        {"content": "Proposed."},
    )
    mention(world, "EvTicket", "1700000000.000200", f"please open a ticket for {CVE} in team-x/app")
    (card,) = world.slack.wait_for(
        "chat.postMessage", timeout=WAIT, where=lambda c: "approve" in json.dumps(c.args.get("blocks"))
    )
    for block in card.args["blocks"]:
        for element in block.get("elements") or []:
            if element.get("type") == "button" and "approve" in str(element.get("action_id")):
                return {**element, "block_id": block.get("block_id")}
    raise AssertionError(f"no Approve button on the card: {card.args}")


def approve(world: World, button: dict[str, Any]) -> None:
    """An authorized Approve click over Socket Mode; the tracker gets the ticket, with its token."""
    ts = next(
        ts
        for (_channel, ts), message in list(world.slack.state.messages.items())
        if button["value"] in json.dumps(message["blocks"])
    )
    action = {k: button[k] for k in ("action_id", "block_id", "value") if button.get(k) is not None}
    click = {
        "type": "block_actions",
        "user": {"id": APPROVER},
        "team": {"id": TEAM},
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
        "channel": {"id": CHANNEL},
        "trigger_id": "1.2.3",
        "actions": [action | {"type": "button", "action_ts": str(time.time())}],
    }
    world.socket.wait_ack(world.socket.send("interactive", click), timeout=WAIT)
    wait_until(lambda: len(world.tracker.received) >= 1)
    wait_until(lambda: "execution_done" in audit_kinds(world.state))
    time.sleep(0.3)  # a second POST (a double execution) would arrive now
    ((path, headers, body),) = world.tracker.received
    assert path == "/hooks/tickets" and headers.get("Authorization") == f"Bearer {CANARIES[TICKET_TOKEN_ENV]}"
    assert CVE in body
    world.record("tracker body", body)


def collect_state(world: World) -> None:
    """The audit log as `regent audit` prints it, regent.log, and every non-registry-data table's rows."""
    audit = run_regent("audit", "--json", "--limit", "1000", state=world.state, env=world.env)
    assert audit.returncode == 0, audit.stderr
    world.record("regent audit", audit.stdout + audit.stderr)
    log = world.state / "regent.log"
    if log.exists():
        world.record("regent.log", log.read_text(errors="replace"))
    conn = sqlite3.connect(f"file:{world.state / 'regent.db'}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if not REGISTRY_DATA.match(table):
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
                world.record(f"state table {table}", json.dumps(rows, default=repr))
    finally:
        conn.close()
    for ack in world.socket.acks.values():
        world.record("Socket Mode ack", json.dumps(ack[1]))
    for body in world.llm.requests:
        world.record("LLM request", json.dumps(body))
    for slack_call in world.slack.calls():
        world.record("Slack Web API call", json.dumps(slack_call.args))


def assert_secrets_were_used(world: World) -> None:
    """The canaries were loaded and sent where they belong, so a clean scan means something."""
    assert len(world.llm.requests) == 4
    assert set(world.llm.authorizations) == {f"Bearer {CANARIES['OPENAI_API_KEY']}"}
    calls = [c for c in world.slack.calls() if c.method != "response_url"]
    opened = {c.authorization for c in calls if c.method == "apps.connections.open"}
    assert opened == {f"Bearer {CANARIES['SLACK_APP_TOKEN']}"}
    others = {c.authorization for c in calls if c.method != "apps.connections.open"}
    assert others == {f"Bearer {CANARIES['SLACK_BOT_TOKEN']}"}
    assert {"regent audit", "serve stderr", "state table audit_log", "state table proposals"} <= set(
        world.texts
    )


def audit_kinds(state: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{state / 'regent.db'}?mode=ro", uri=True, timeout=5)
    try:
        return [kind for (kind,) in conn.execute("SELECT kind FROM audit_log ORDER BY seq")]
    finally:
        conn.close()


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
