"""Design boundary: in tools/, only the `client.py` modules speak HTTP.

A module may import httpx at run time only if it is a client, or one of the registry client's transport
helpers, which build or read but never send (no `.request(`, `.send(` or `.stream(` calls in them).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSPORT_HELPERS = {"tools/registry/http.py", "tools/registry/retry.py", "tools/registry/wire.py"}
SENDING_CALLS = {"request", "send", "stream"}


def _runtime_imports_httpx(tree: ast.Module) -> bool:
    """True if httpx is imported outside `if TYPE_CHECKING:` blocks."""
    type_checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    return any(
        id(node) not in type_checking
        and (
            (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "httpx" for a in node.names))
            or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "httpx")
        )
        for node in ast.walk(tree)
    )


def test_only_client_modules_speak_http() -> None:
    offenders = []
    for path in sorted((ROOT / "tools").rglob("*.py")):
        relative = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(), filename=relative)
        if path.name == "client.py" or not _runtime_imports_httpx(tree):
            continue
        if relative not in TRANSPORT_HELPERS:
            offenders.append(f"{relative}: imports httpx but is not a client module")
            continue
        sends = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SENDING_CALLS
        ]
        offenders.extend(f"{relative}:{line}: sends a request outside a client" for line in sends)
    assert not offenders, "\n".join(offenders)


def test_the_rule_catches_a_module_that_sends() -> None:
    sneaky = ast.parse("import httpx\n\ndef f(c: httpx.Client) -> None:\n    c.request('GET', 'http://x')\n")
    assert _runtime_imports_httpx(sneaky)
    typed_only = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n")
    assert not _runtime_imports_httpx(typed_only)
