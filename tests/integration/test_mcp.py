"""`regent mcp` with the MCP SDK's own client, over stdio and streamable HTTP: the same tools and results
as the toolbox the LLM uses, nothing that proposes or deletes, and a bearer token on HTTP."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from bot.app import build_app
from bot.config import Secrets, Settings
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tests.cli import run_regent

pytestmark = pytest.mark.real
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
TOKEN = "mcp-test-token-7f3a"
ACCEPT = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}


@pytest.fixture
def crawled(registry: RegistryServer, seeder: Seeder, tmp_path: Path) -> Path:
    seed_sample(seeder, now=NOW, runnable=False)
    state = tmp_path / "state"
    done = run_regent("inventory", "--registry", registry.url, "--no-progress", state=state)
    assert done.returncode == 0, done.stderr
    return state


def _env(state: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return keep | {"REGENT_STATE_DIR": str(state), "REGENT_CONFIG": str(state / "none.yml")}


def toolbox_result(state: Path, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    app = build_app(settings=Settings(), secrets=Secrets(), state_dir=state)
    try:
        outcome = app.toolbox.call(name, json.dumps(arguments), user="test", conversation="test")
        return dict(json.loads(outcome.content))
    finally:
        app.close()


async def exercise(session: ClientSession) -> tuple[list[str], dict[str, Any], Any]:
    await session.initialize()
    listed = await session.list_tools()
    got = await session.call_tool("get_image", {"image": "shop/api:1.2.0"})
    refused = await session.call_tool("propose_deletion", {"images": ["shop/api:1.2.0"]})
    assert not got.isError
    text = got.content[0].text  # type: ignore[union-attr]
    return [tool.name for tool in listed.tools], json.loads(text), refused


def check(
    state: Path, registry: RegistryServer, seeder: Seeder, names: list[str], got: Any, refused: Any
) -> None:
    assert "get_image" in names and "list_registries" in names
    assert not [n for n in names if n.startswith("propose")]  # nothing that proposes is offered
    assert got == toolbox_result(state, "get_image", {"image": "shop/api:1.2.0"})
    assert refused.isError and "propose_deletion" in refused.content[0].text
    digest = seeder.tagged()[("shop/api", "1.2.0")]
    still = httpx.head(f"{registry.url}/v2/shop/api/manifests/{digest}", headers=ACCEPT)
    assert still.status_code == 200  # the proposing call changed nothing


def test_stdio_lists_tools_and_answers_like_the_toolbox(
    crawled: Path, registry: RegistryServer, seeder: Seeder
) -> None:
    (crawled / "none.yml").write_text("{}\n")
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "bot.cli", "mcp"], env=_env(crawled), cwd=str(crawled)
    )

    async def main() -> tuple[list[str], dict[str, Any], Any]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            return await exercise(session)

    names, got, refused = anyio.run(main)
    check(crawled, registry, seeder, names, got, refused)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(crawled: Path) -> Iterator[str]:
    (crawled / "none.yml").write_text("{}\n")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "mcp", "--http", str(port)],
        env=_env(crawled) | {"REGENT_MCP_TOKEN": TOKEN},
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "regent mcp --http did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


def test_http_needs_the_token_and_answers_like_the_toolbox(
    http_server: str, crawled: Path, registry: RegistryServer, seeder: Seeder
) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert httpx.post(http_server, json=hello).status_code == 401
    wrong = httpx.post(http_server, json=hello, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401

    async def main() -> tuple[list[str], dict[str, Any], Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(http_server, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            return await exercise(session)

    names, got, refused = anyio.run(main)
    check(crawled, registry, seeder, names, got, refused)


def test_http_without_a_configured_token_refuses_to_start(crawled: Path) -> None:
    (crawled / "none.yml").write_text("{}\n")
    done = run_regent(
        "mcp", "--http", str(_free_port()), state=crawled, env={"REGENT_CONFIG": str(crawled / "none.yml")}
    )
    assert done.returncode == 2 and "REGENT_MCP_TOKEN" in done.stderr
