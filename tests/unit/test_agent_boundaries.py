"""DESIGN.md boundaries of the agent: openai in one module, no Slack/httpx/clients, env read only by settings.

(tools/ and bot/slack/ have their own boundary tests.) AST-based, so comments and strings do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def reads_env(path: Path) -> list[int]:
    names = {"environ", "environb", "getenv", "putenv"}
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in names and _is_os(node.value):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & names:
            lines.append(node.lineno)
    return lines


def _is_os(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


@pytest.mark.parametrize("path", python_files("bot/agent"), ids=rel)
def test_the_agent_uses_openai_in_one_module_and_no_slack_httpx_or_clients(path: Path) -> None:
    for module in imports(path):
        assert not top(module).startswith("slack"), f"{rel(path)} imports {module}"
        assert top(module) != "httpx", f"{rel(path)} imports httpx"
        assert not (module.startswith("tools.") and module.endswith(".client")), (
            f"{rel(path)} imports {module}"
        )
        if top(module) == "openai":
            assert path.name == "llm.py", f"{rel(path)} imports openai; only bot/agent/llm.py may"


@pytest.mark.parametrize("path", python_files("bot"), ids=rel)
def test_only_settings_reads_the_environment(path: Path) -> None:
    if rel(path) == "bot/config/settings.py":
        return
    assert reads_env(path) == [], f"{rel(path)} reads the environment (lines {reads_env(path)})"
