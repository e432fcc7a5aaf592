"""Behavioural boundaries a linter cannot express: every mutating client call happens in tools/changes.

Import rules (layers, who may import Slack, openai, httpx, no cycles) are import-linter contracts in
pyproject.toml, run by the test command; reading the environment outside bot/config is a ruff error
(TID251). What is left here is *where a call is made*: deleting a manifest, revoking a Portainer API
key, removing a team membership and changing a user's role are reachable only from the change
executors, which run only for an approved proposal (design invariants 1 and 3).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTATING_CALLS = (
    "delete_manifest",
    "delete_api_key",
    "delete_team_membership",
    "set_user_role",
    "update_stack",  # a Portainer stack file, redeployed
    "run_exec",  # a command in a container through Portainer
)


def _callers(name: str, root: Path = ROOT) -> set[str]:
    found = set()
    for path in sorted(p for d in ("bot", "tools") for p in (root / d).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        delegating = _delegations(tree, name)
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if called and node.func.attr == name and id(node) not in delegating:  # type: ignore[attr-defined]
                found.add(str(path.relative_to(root)))
    return found


def _delegations(tree: ast.AST, name: str) -> set[int]:
    """`super().<name>(...)` inside a method `<name>`: a registry adapter's delete path handing on to v2.

    That is the client implementing the call (tools/registry/kinds, #13), not a new caller of it.
    """
    out: set[int] = set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and function.name == name:
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == name
                    and isinstance(node.func.value, ast.Call)
                    and isinstance(node.func.value.func, ast.Name)
                    and node.func.value.func.id == "super"
                ):
                    out.add(id(node))
    return out


def test_mutating_client_calls_happen_only_in_the_change_executors() -> None:
    for name in MUTATING_CALLS:
        callers = _callers(name)
        assert callers, f"{name} is never called: the rule would pass vacuously"
        outside = {c for c in callers if not c.startswith("tools/changes/")}
        assert not outside, f"{name} called outside tools/changes: {sorted(outside)}"


def test_the_rule_finds_a_call_outside_the_executors(tmp_path: Path) -> None:
    (tmp_path / "bot").mkdir()
    (tmp_path / "tools" / "changes").mkdir(parents=True)
    (tmp_path / "bot" / "sneaky.py").write_text("def f(client):\n    client.delete_manifest('r', 'd')\n")
    (tmp_path / "tools" / "changes" / "ok.py").write_text("def g(c):\n    c.delete_manifest('r', 'd')\n")
    assert _callers("delete_manifest", tmp_path) == {"bot/sneaky.py", "tools/changes/ok.py"}


def test_an_adapter_handing_its_delete_on_to_v2_is_not_a_caller(tmp_path: Path) -> None:
    (tmp_path / "tools" / "registry").mkdir(parents=True)
    (tmp_path / "bot").mkdir()
    adapter = (
        "class A(B):\n    def delete_manifest(self, r, d):\n        return super().delete_manifest(r, d)\n"
    )
    (tmp_path / "tools" / "registry" / "adapter.py").write_text(adapter)
    sneaky = "class C(B):\n    def other(self, r, d):\n        return super().delete_manifest(r, d)\n"
    (tmp_path / "tools" / "registry" / "sneaky.py").write_text(sneaky)
    assert _callers("delete_manifest", tmp_path) == {"tools/registry/sneaky.py"}
