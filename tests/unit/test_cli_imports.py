"""`regent inventory` of a plain v2 registry loads only what a crawl needs (#17): the SDKs of the assistant,
Slack, charts, PDFs, MCP and AWS cost more CPU to import than a warm crawl of 1,000 tags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Imported by a v2 crawl, these would each add tens to hundreds of milliseconds of CPU per process.
NEVER_FOR_A_CRAWL = (
    "openai",
    "boto3",
    "botocore",
    "slack_sdk",
    "slack_bolt",
    "matplotlib",
    "mcp",
    "fpdf",
    "bot.app",
    "bot.agent",
    "tools.toolbox",
    "tools.portainer.client",
    "rich",  # only for a terminal's progress bar and summary table, not for --json
    "click",  # httpx's command line (bot/cli.py keeps httpx from importing it)
    "pygments",
    "pythonjsonlogger",  # only for --log-format json
    "yaml",  # only to read a configuration file
)

_CHILD = """
import json, sys
from bot.cli import main
code = main(["inventory", "--registry", "http://127.0.0.1:9", "--json", "--no-progress"])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_a_v2_inventory_imports_no_assistant_slack_or_cloud_sdk(tmp_path: Path) -> None:
    # Port 9 (discard) refuses at once: the whole command runs, the crawl fails, nothing is waited for.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no ./regent.yml: flags only
        env={
            "PATH": "",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "REGENT_STATE_DIR": str(tmp_path / "state"),
        },
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 1  # the unreachable registry is reported, as a failed source
    loaded = [
        name
        for name in result["modules"]
        if any(name == top or name.startswith(top + ".") for top in NEVER_FOR_A_CRAWL)
    ]
    assert loaded == []
    assert (tmp_path / "state" / "regent.db").is_file()  # the snapshot was saved all the same
