"""`regent mcp`: the read-only toolbox for MCP clients (Claude Desktop, Cursor, …), over stdio or HTTP."""

from __future__ import annotations

import argparse
import sys

from tools.errors import ConfigError


def run_mcp_command(args: argparse.Namespace) -> int:
    """Serve until the client disconnects (stdio) or SIGINT/SIGTERM (HTTP)."""
    from bot.app import app_from_env
    from bot.mcp.server import build_server
    from bot.mcp.transports import MCP_PATH, serve_http, serve_stdio

    app = app_from_env(config=args.config)
    try:
        if args.http is None:
            serve_stdio(build_server(app, client="stdio"))
            return 0
        token = app.secrets.mcp_token
        if token is None:
            raise ConfigError("regent mcp --http needs REGENT_MCP_TOKEN (the bearer token clients send)")
        print(
            f"regent: MCP over streamable HTTP at http://{args.host}:{args.http}{MCP_PATH} "
            "(Authorization: Bearer $REGENT_MCP_TOKEN)",
            file=sys.stderr,
        )
        serve_http(
            build_server(app, client="http"), token=token.get_secret_value(), host=args.host, port=args.http
        )
        return 0
    finally:
        app.close()
