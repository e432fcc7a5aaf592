"""bot/slack imports only Slack SDKs, the agent, approvals and digest (DESIGN.md), and reads no env."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SLACK_DIR = Path(__file__).resolve().parents[2] / "bot" / "slack"
ALLOWED = ("slack_bolt", "slack_sdk", "bot.agent", "bot.approvals", "bot.digest", "bot.slack")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_slack_package_imports_only_what_the_design_allows() -> None:
    problems = []
    for path in sorted(SLACK_DIR.glob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if not any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED):
                problems.append(f"{path.name}: {module}")
    assert not problems, problems


def test_slack_package_reads_no_environment() -> None:
    for path in SLACK_DIR.glob("*.py"):
        text = path.read_text()
        assert "os.environ" not in text and "getenv" not in text, path.name
