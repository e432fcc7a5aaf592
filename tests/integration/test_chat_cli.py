"""`regent chat` as a user runs it: a real process, the fake LLM over HTTP, the real registry.

The approval goes through bot.approvals (decide, then execute once) and tools.changes.retention deletes the
manifest from the real registry; rejecting deletes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from bot.approvals.audit import AuditLog
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tests.fakes.openai_server import FakeOpenAI, tool_messages
from tests.integration.agent_harness import call

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]
ACCEPT = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}


def chat(
    fake: FakeOpenAI, registry: RegistryServer, state: Path, stdin: str
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PORTAINER_", "REGENT_", "OPENAI_", "SLACK_"))
    }
    env.update(
        REGENT_STATE_DIR=str(state),
        REGENT_CONFIG=str(state / "none.yml"),
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="sk-test",
        REGENT_MODEL="fake",
    )
    (state / "none.yml").write_text("{}\n")
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--registry", registry.url],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def proposal_answer(body: dict[str, object]) -> dict[str, str]:
    result = json.loads(tool_messages(body)[-1]["content"])
    return {"content": f"I proposed {result['proposal_id']}: {result['plan']['reclaimable']} back after GC."}


def test_chat_proposes_and_an_approval_deletes_exactly_once(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    digest = seeder.tagged()[("shop/api", "1.2.0")]
    with FakeOpenAI([call("propose_deletion", images=["shop/api:1.2.0"]), proposal_answer]) as fake:
        done = chat(fake, registry, tmp_path, "Please delete shop/api:1.2.0\ny\nexit\n")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Crawling registries" in done.stderr
    out = done.stdout
    assert "regent> I proposed prop-" in out and "Approve? [y/N]" in out
    assert f"shop/api@{digest[:19]}… [1.2.0]" in out
    gone = http_client.get(f"{registry.url}/v2/shop/api/manifests/{digest}", headers=ACCEPT)
    assert gone.status_code == 404
    kept = http_client.head(f"{registry.url}/v2/shop/api/manifests/1.2.1", headers=ACCEPT)
    assert kept.status_code == 200
    audit = AuditLog(tmp_path / "regent.db")
    kinds = [e.kind for e in audit.entries()]
    assert audit.verify().ok
    audit.close()
    assert kinds[:2] == ["tool_call", "proposal_created"]
    assert "proposal_approved" in kinds and kinds.count("execution_started") == 1


def test_chat_rejection_deletes_nothing(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    with FakeOpenAI([call("propose_deletion", images=["shop/api:1.2.0"]), proposal_answer]) as fake:
        done = chat(fake, registry, tmp_path, "delete shop/api:1.2.0\nn\n")
    assert done.returncode == 0, done.stderr
    assert "Nothing was deleted." in done.stdout
    still = http_client.head(f"{registry.url}/v2/shop/api/manifests/1.2.0", headers=ACCEPT)
    assert still.status_code == 200


def test_chat_without_an_inventory_still_answers(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PORTAINER_", "REGENT_", "OPENAI_", "SLACK_"))
    }
    (tmp_path / "none.yml").write_text("{}\n")
    with FakeOpenAI([call("list_registries"), {"content": "There is no inventory yet."}]) as fake:
        env.update(
            REGENT_STATE_DIR=str(tmp_path),
            REGENT_CONFIG=str(tmp_path / "none.yml"),
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="sk-test",
        )
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "chat"],
            input="what registries are there?\n",
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        tool_result = json.loads(tool_messages(fake.requests[1])[-1]["content"])
    assert done.returncode == 0, done.stderr
    assert "no inventory yet (nothing to inventory" in done.stderr
    assert "regent> There is no inventory yet." in done.stdout
    assert "regent inventory" in tool_result["hint"]
