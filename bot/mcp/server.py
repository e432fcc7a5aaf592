"""The toolbox as an MCP server: the same tools, schemas and result bounds as the LLM loop, read-only.

Proposing tools (deletion, suspension, ticket) are not offered: an MCP client has no approval card, and
an approval must come from an authorized person in Slack or the terminal (design invariant 1). Every call
goes through `Toolbox.call`, so arguments are validated by the same models, results are cut to the same
size, and errors come back as the same JSON the LLM gets; each call is written to the audit log.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import anyio
from mcp import types
from mcp.server.lowlevel import Server

from bot.agent.loop import ToolCallEvent
from bot.app import App
from bot.toolbox_context import tool_audit

SERVER_NAME = "regent"


def offered_tools(app: App) -> list[types.Tool]:
    """The read-only tools with the loop's own generated schemas."""
    names = app.toolbox.names(proposing=False)
    tools = []
    for entry in app.toolbox.openai_tools(names):
        function = entry["function"]
        tools.append(
            types.Tool(
                name=function["name"],
                description=function.get("description", ""),
                inputSchema=function["parameters"],
                annotations=types.ToolAnnotations(readOnlyHint=True, openWorldHint=False),
            )
        )
    return tools


def call_tool(app: App, name: str, arguments: dict[str, Any], *, client: str) -> types.CallToolResult:
    """Run one tool as the LLM loop would (offered = read-only tools), audited; never raises."""
    offered = app.toolbox.names(proposing=False)
    reference = secrets.token_hex(4)
    conversation = f"mcp:{client}"
    tool_audit(app.audit)(
        ToolCallEvent(
            reference=reference,
            conversation=conversation,
            user=f"mcp:{client}",
            tool=name,
            arguments=arguments,
            step=0,
            offered=name in offered,
        )
    )
    outcome = app.toolbox.call(
        name, json.dumps(arguments), user=f"mcp:{client}", conversation=conversation, offered=offered
    )
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=outcome.content)], isError=not outcome.ok
    )


def build_server(app: App, *, client: str = "client") -> Server[Any, Any]:
    """An MCP server bound to the app's toolbox."""
    server: Server[Any, Any] = Server(SERVER_NAME, instructions=_INSTRUCTIONS)

    @server.list_tools()  # type: ignore[no-untyped-call, untyped-decorator]
    async def _list() -> list[types.Tool]:
        return offered_tools(app)

    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def _call(name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        # Tools read the snapshot and may call a registry: off the event loop.
        return await anyio.to_thread.run_sync(
            lambda: call_tool(app, name, dict(arguments or {}), client=client)
        )

    return server


_INSTRUCTIONS = (
    "Regent answers questions about the container images in the registries and environments Portainer "
    "manages: sizes, base images, where images run, stale and wasted space, vulnerabilities. Results are "
    "bounded; a cut result says how to narrow the query. Cleanups are proposed and approved in Slack, "
    "not here."
)
