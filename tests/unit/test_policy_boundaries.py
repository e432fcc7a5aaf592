"""Behavioural boundaries a linter cannot express: every mutating client call happens in tools/changes.

Import rules (layers, who may import Slack, openai, httpx, no cycles) are import-linter contracts in
pyproject.toml, run by the test command; reading the environment outside bot/config is a ruff error
(TID251). What is left here is *where a call is made*: deleting a manifest, revoking a Portainer API
key, removing a team membership and changing a user's role are reachable only from the change
executors, which run only for an approved proposal (design invariants 1 and 3).

A registry kind's own delete calls (ECR BatchDeleteImage, Harbor's artifact delete, the tag deletes of
Docker Hub, ACR, GAR, Quay and GitLab, GHCR's package version delete; #13) are one step further in: each is
made only by its own adapter's `delete_manifest`, which the executors call, so no other module (a toolbox
tool, an export preview, a crawl) can reach a vendor delete without the change pipeline.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
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

KINDS = "tools/registry/kinds"
# a vendor client's delete -> the adapter modules whose `delete_manifest` alone may call it
VENDOR_DELETES: dict[str, frozenset[str]] = {
    "delete_image": frozenset({f"{KINDS}/ecr/adapter.py"}),  # EcrApi: BatchDeleteImage of one digest
    "batch_delete_image": frozenset(),  # botocore's own method: only through EcrApi.delete_image
    "delete_artifact": frozenset({f"{KINDS}/harbor/adapter.py"}),  # HarborApi
    "delete_version": frozenset({f"{KINDS}/github/adapter.py"}),  # GithubPackages (GHCR)
    "delete_tag": frozenset(  # HubApi, AcrClient, GarClient, QuayApi, GitlabProject
        f"{KINDS}/{kind}/adapter.py" for kind in ("dockerhub", "azure", "gar", "quay", "gitlab")
    ),
}
VENDOR_DELETE_OPERATIONS = {"BatchDeleteImage": (f"{KINDS}/ecr/client.py", "delete_image")}
ADAPTER_DELETE = "delete_manifest"


@cache
def _sources(root: Path) -> tuple[tuple[str, ast.AST], ...]:
    """(path under root, parsed module) of every module of bot/ and tools/, parsed once per root."""
    paths = sorted(p for d in ("bot", "tools") for p in (root / d).rglob("*.py"))
    return tuple((str(p.relative_to(root)), ast.parse(p.read_text(), filename=str(p))) for p in paths)


def _sites(matches: Callable[[ast.Call], bool], root: Path) -> set[tuple[str, str]]:
    """(module, innermost enclosing function or "<module>") of every call that `matches`."""
    found: set[tuple[str, str]] = set()

    def visit(node: ast.AST, module: str, function: str) -> None:
        if isinstance(node, ast.Call) and matches(node):
            found.add((module, function))
        inner = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else function
        for child in ast.iter_child_nodes(node):
            visit(child, module, inner)

    for module, tree in _sources(root):
        visit(tree, module, "<module>")
    return found


def _call_sites(name: str, root: Path = ROOT) -> set[tuple[str, str]]:
    """Where `<anything>.<name>(...)` is called."""
    return _sites(lambda call: isinstance(call.func, ast.Attribute) and call.func.attr == name, root)


def _operation_sites(operation: str, root: Path = ROOT) -> set[tuple[str, str]]:
    """Where an AWS operation name is passed to a call (`self._call("BatchDeleteImage", …)`)."""
    return _sites(
        lambda call: any(isinstance(arg, ast.Constant) and arg.value == operation for arg in call.args), root
    )


def _vendor_delete_violations(root: Path = ROOT) -> list[str]:
    """Calls of a vendor delete anywhere but its own adapter's `delete_manifest`."""
    wrong = []
    for name, adapters in VENDOR_DELETES.items():
        for module, function in sorted(_call_sites(name, root)):
            if module not in adapters or function != ADAPTER_DELETE:
                wrong.append(f"{name} called in {module} ({function})")
    for operation, allowed in VENDOR_DELETE_OPERATIONS.items():
        wrong.extend(
            f"{operation} sent from {m} ({f})"
            for m, f in sorted(_operation_sites(operation, root))
            if (m, f) != allowed
        )
    return wrong


def _callers(name: str, root: Path = ROOT) -> set[str]:
    found = set()
    for module, tree in _sources(root):
        delegating = _delegations(tree, name)
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if called and node.func.attr == name and id(node) not in delegating:  # type: ignore[attr-defined]
                found.add(module)
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


def test_vendor_deletes_are_called_only_by_their_own_adapters_delete_manifest() -> None:
    for name, adapters in VENDOR_DELETES.items():
        modules = {module for module, _ in _call_sites(name)}
        assert modules == adapters, f"{name}: called in {sorted(modules)}, expected {sorted(adapters)}"
    for operation, site in VENDOR_DELETE_OPERATIONS.items():
        assert _operation_sites(operation) == {site}, f"{operation} is sent only by {site}"
    assert _vendor_delete_violations() == []


def test_the_rule_finds_a_vendor_delete_outside_its_adapter(tmp_path: Path) -> None:
    harbor = tmp_path / "tools" / "registry" / "kinds" / "harbor"
    harbor.mkdir(parents=True)
    (tmp_path / "bot").mkdir()
    (tmp_path / "tools" / "toolbox").mkdir()
    (harbor / "adapter.py").write_text(
        "class H:\n"
        "    def delete_manifest(self, r, d):\n        return self.api.delete_artifact(r, d)\n"
        "    def prune(self, r, d):\n        return self.api.delete_artifact(r, d)\n"
    )
    (tmp_path / "tools" / "toolbox" / "sneaky.py").write_text(
        "def tool(registry):\n    registry.api.delete_artifact('r', 'd')\n"
        "    registry.hub.delete_tag('ns', 'r', 't')\n"
        "    registry.api._call('BatchDeleteImage', imageIds=[])\n"
    )
    assert _vendor_delete_violations(tmp_path) == [
        "delete_artifact called in tools/registry/kinds/harbor/adapter.py (prune)",
        "delete_artifact called in tools/toolbox/sneaky.py (tool)",
        "delete_tag called in tools/toolbox/sneaky.py (tool)",
        "BatchDeleteImage sent from tools/toolbox/sneaky.py (tool)",
    ]
