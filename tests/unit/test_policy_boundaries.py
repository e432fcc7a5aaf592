"""Design boundaries: only tools/changes/retention.py deletes from a registry; tools/ imports no bot, Slack or
LLM code and reads no environment."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IMPORTS = ("bot", "slack_bolt", "slack_sdk", "openai")


def _sources(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py"))


def _calls(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name
    ]


def test_only_execute_deletes_manifests() -> None:
    callers = {
        str(path.relative_to(ROOT))
        for path in _sources("tools", "bot")
        if _calls(path, "delete_manifest") and "sandbox" not in path.parts
    }
    assert callers == {"tools/changes/retention.py"}, callers


def test_tools_import_no_bot_slack_or_llm_code_and_read_no_environment() -> None:
    problems = []
    for path in _sources("tools"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            problems += [f"{path.name}: imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_IMPORTS]
        text = path.read_text()
        if "os.environ" in text or "getenv(" in text:
            problems.append(f"{path.name}: reads the environment")
    assert not problems, problems
