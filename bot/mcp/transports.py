"""Serving the MCP server over stdio, or over streamable HTTP behind a bearer token."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.web.requests import bearer_matches

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
MCP_PATH = "/mcp"


def serve_stdio(server: Server[Any, Any]) -> None:
    """Serve one client on stdin/stdout until it disconnects."""

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


class BearerToken:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>` (else 401)."""

    def __init__(self, app: Any, *, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            body = b'{"error":"unauthorized","message":"send Authorization: Bearer <REGENT_MCP_TOKEN>"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="regent"'),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self._app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        return bearer_matches(dict(scope.get("headers") or []).get(b"authorization", b""), self._token)


def http_app(server: Server[Any, Any], *, token: str) -> Any:
    """The streamable-HTTP ASGI app at /mcp, behind the bearer token."""
    manager = StreamableHTTPSessionManager(app=server, json_response=False, stateless=True)

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return BearerToken(Starlette(routes=[Mount(MCP_PATH, app=handle)], lifespan=lifespan), token=token)


def serve_http(server: Server[Any, Any], *, token: str, host: str, port: int) -> None:
    """Serve streamable HTTP until SIGINT/SIGTERM (uvicorn handles both and drains requests)."""
    config = uvicorn.Config(http_app(server, token=token), host=host, port=port, log_level="warning")
    # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal to the handler that was there before it
    # started; a quiet handler here makes that a clean exit 0, as for `regent serve`.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    uvicorn.Server(config).run()
