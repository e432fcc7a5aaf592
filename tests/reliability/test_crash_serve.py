"""SIGKILL `regent serve` (a real process, HTTP mode, fake Slack behind a fault proxy, real registry behind
another) in the middle of a proposal and in the middle of an approved execution; then start it again."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from bot.approvals import ProposalStore
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import SECRET, sign
from tests.reliability.crash import (
    OLD_TAGS,
    POLICIES,
    assert_state_intact,
    kill_hard,
    seed_old_and_new,
    spawn_regent,
)
from tools.changes.store import ChangeStore

pytestmark = pytest.mark.real
APPROVER, CHANNEL = "U0APP", "C0OPS"
MANIFESTS = "/v2/team-x/app/manifests/"


@dataclass
class World:
    """The registry and Slack behind fault proxies, a config, a state dir with a first inventory."""

    registry: FaultProxy
    slack: FakeSlackApi
    slack_proxy: FaultProxy
    state: Path
    config: Path

    @contextmanager
    def serve(self) -> Iterator[Server]:
        env = {
            "REGENT_CONFIG": str(self.config),
            "SLACK_BOT_TOKEN": "xoxb-crash-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": self.slack_proxy.url + "/api/",
        }
        log = self.state / "stderr.txt"
        start = log.stat().st_size if log.exists() else 0
        process = spawn_regent("serve", "--host", "127.0.0.1", "--port", "0", state=self.state, env=env)
        try:
            deadline = time.monotonic() + 30
            match = None
            while match is None:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[start:]
                match = re.search(r"health on (http://127\.0\.0\.1:\d+)/healthz", log.read_text()[start:])
                time.sleep(0.05)
            with httpx.Client(timeout=10) as http:
                yield Server(process, match.group(1), http, self)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)

    def proposals(self) -> ProposalStore:
        db = self.state / "regent.db"
        return ProposalStore(db, changes=ChangeStore.open(db))


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    http: httpx.Client
    world: World

    def post(self, body: str, content_type: str) -> None:
        headers = {"Content-Type": content_type, **sign(body)}
        assert self.http.post(f"{self.base}/slack/events", content=body, headers=headers).status_code == 200

    def plan(self) -> None:
        fields = {
            "command": "/regent",
            "text": "plan cleanup",
            "user_id": "U0REQ",
            "channel_id": CHANNEL,
            "team_id": "T0TEAM",
            "response_url": self.world.slack.hook_url(),
        }
        self.post(urlencode(fields), "application/x-www-form-urlencoded")

    def approve(self, proposal_id: str, ts: str) -> None:
        payload = {
            "type": "block_actions",
            "user": {"id": APPROVER},
            "team": {"id": "T0TEAM"},
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
            "channel": {"id": CHANNEL},
            "trigger_id": "1.2.3",
            "actions": [
                {
                    "type": "button",
                    "action_id": "regent_approve",
                    "block_id": f"proposal:{proposal_id}",
                    "value": proposal_id,
                    "action_ts": str(time.time()),
                }
            ],
        }
        self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


@pytest.fixture
def world(registry: RegistryServer, seeder: Seeder, tmp_path: Path) -> Iterator[World]:
    seed_old_and_new(seeder)
    with (
        FaultProxy(registry.url) as registry_proxy,
        FakeSlackApi() as slack,
        FaultProxy(slack.url) as slack_proxy,
    ):
        policies = tmp_path / "policies.yml"
        policies.write_text(POLICIES)
        config = tmp_path / "regent.yml"
        config.write_text(
            f"registries:\n  - {{name: local, url: '{registry_proxy.url}'}}\npolicies_file: {policies}\n"
            f"slack:\n  approvers: {{users: [{APPROVER}]}}\n"
            # The start-up delete probe (DELETE of the all-zero digest) would add to the DELETE counts.
            "privileges: {delete_probe: false}\n"
        )
        state = tmp_path / "state"
        crawled = run_regent("inventory", "--config", str(config), "--no-progress", state=state)
        assert crawled.returncode == 0, crawled.stderr
        yield World(registry_proxy, slack, slack_proxy, state, config)


def wait_for(condition: object, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_kill_while_posting_the_proposal_card(world: World) -> None:
    world.slack_proxy.inject(("hold",), method="POST", path="/api/chat.postMessage")
    with world.serve() as server:
        server.plan()
        world.slack_proxy.wait_until(lambda p: p.held == 1)
        kill_hard(server.process)
    world.slack_proxy.release(forward=False)
    assert_state_intact(world.state)
    store = world.proposals()
    (orphan,) = store.pending()
    assert orphan.message_ts is None  # stored, never shown, so never approvable: it expires unseen
    with world.serve() as server:
        server.plan()  # asking again works and gets a card
        world.slack.wait_for("chat.postMessage", 1, timeout=20)
        wait_for(lambda: any(p.message_ts for p in store.pending()))
    assert world.registry.count("DELETE") == 0
    assert_state_intact(world.state)
    store.close()


def test_kill_during_an_approved_execution_resumes_on_restart(world: World) -> None:
    store = world.proposals()
    with world.serve() as server:
        server.plan()
        wait_for(lambda: any(p.message_ts for p in store.pending()))
        (proposal,) = store.pending()
        assert proposal.message_ts is not None
        world.registry.inject(("hold",), method="DELETE", path=MANIFESTS, skip=2)
        server.approve(proposal.id, proposal.message_ts)
        world.registry.wait_until(lambda p: p.held == 1)
        kill_hard(server.process)
    world.registry.release(forward=True)  # the in-flight DELETE reaches the registry after the death
    world.registry.wait_until(lambda p: p.finished == len(p.log))
    assert_state_intact(world.state)
    assert store.get(proposal.id).status == "executing"  # type: ignore[union-attr]
    with world.serve():
        wait_for(lambda: store.get(proposal.id).status in ("done", "failed"))  # type: ignore[union-attr]
        world.slack.wait_for("chat.update", where=lambda c: "Deleted" in json.dumps(c.args), timeout=20)
    final = store.get(proposal.id)
    assert final is not None and final.status == "done" and final.result is not None
    assert (final.result["deleted"], final.result["already_gone"], final.result["failed"]) == (4, 1, 0)
    deletes = Counter(path for method, path, _ in world.registry.log if method == "DELETE")
    assert len(deletes) == len(OLD_TAGS) and max(deletes.values()) == 1  # nothing deleted twice
    assert_state_intact(world.state)
    audit = run_regent("audit", "--json", "--limit", "100", state=world.state)
    kinds = [e["kind"] for e in json.loads(audit.stdout)]
    assert kinds.count("proposal_approved") == 1 and kinds.count("execution_done") == 1
    store.close()
