"""`regent digest` as a user runs it (a real process): the terminal digest with its chart file, and
`--post` to a fake Slack, whose message carries the same figures as the terminal."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path
from typing import Any

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tests.cli import run_regent
from tests.fakes.slack_files import FakeSlackFilesApi

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def regent(*args: str, state: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_regent(*args, state=state, env=env)


def block_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for value in node.values() for t in block_texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in block_texts(value)]
    return []


def test_digest_in_the_terminal_and_posted_show_the_same_figures(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed_sample(seeder, now=dt.datetime.now(dt.UTC), runnable=False)
    crawled = regent("inventory", "--registry", registry.url, "--no-progress", state=tmp_path)
    assert crawled.returncode == 0, crawled.stderr
    config = tmp_path / "regent.yml"
    config.write_text("digest:\n  channel: '#registry'\n  timezone: Europe/Berlin\n")

    chart = tmp_path / "out" / "digest.png"
    shown = regent("digest", "--config", str(config), "--chart", str(chart), state=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Registry digest, " in shown.stdout and "Forecast: not enough history yet" in shown.stdout
    assert f"Chart saved to {chart}" in shown.stdout
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    refused = regent("digest", "--config", str(config), "--post", state=tmp_path)
    assert refused.returncode == 2 and "set SLACK_BOT_TOKEN" in refused.stderr

    with FakeSlackFilesApi() as fake:
        slack = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": fake.api_url}
        posted = regent("digest", "--config", str(config), "--post", state=tmp_path, env=slack)
        assert posted.returncode == 0, posted.stderr
        assert "regent: digest sent: sent to #registry" in posted.stdout
        (message,) = fake.calls("chat.postMessage")
        assert len(fake.uploads) == 1 and fake.uploads[0].data is not None
    slack_text = "\n".join(block_texts(message.args["blocks"]))
    terminal = posted.stdout.split("regent: digest sent")[0]
    assert set(NUMBER.findall(terminal)) == set(NUMBER.findall(slack_text))
    assert message.args["text"].split("\n")[1] in terminal  # the fallback's headline, word for word
