"""The `regent` command line: argument parsing, dispatch, and errors as short messages (never tracebacks)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import types
import uuid
from collections.abc import Callable, Sequence
from typing import NoReturn

from tools.errors import ConfigError, RegentError


def _without_httpx_cli() -> None:
    """Keep httpx from importing its command line, which no Regent process runs.

    httpx's package imports `httpx._main` (click, rich and pygments) whenever those are installed: ~40 ms
    of CPU in every `regent` process, a tenth of a warm `regent inventory` (#17). An empty module in its
    place makes httpx bind its own fallback `main` (a message saying how to install the CLI); the `httpx`
    console script is a process of its own and keeps working. Rich still loads where Regent draws with
    it (progress bars, tables).
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))


_without_httpx_cli()  # before any command imports httpx

log = logging.getLogger("regent")

Command = Callable[[argparse.Namespace], int]


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="configuration file (default: $REGENT_CONFIG or ./regent.yml)")
    parser.add_argument(
        "--registry",
        action="append",
        default=[],
        metavar="URL",
        help="a registry to crawl directly (repeatable); credentials from REGENT_REGISTRY_USERNAME/_PASSWORD",
    )
    parser.add_argument("--portainer", metavar="URL", help="Portainer URL (API key from PORTAINER_API_KEY)")
    parser.add_argument(
        "--docker-host",
        action="append",
        default=[],
        metavar="unix://…|tcp://…",
        help="a Docker host that Portainer does not manage (repeatable)",
    )


def record_crash(reference: str) -> str:
    """Write the current exception's traceback to the state directory's log; returns where."""
    from bot.config import state_dir

    path = state_dir() / "regent.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
    except OSError:
        return "the log (state directory not writable)"
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    try:
        log.exception("internal error (reference %s)", reference)
    finally:
        log.removeHandler(handler)
        handler.close()
        log.propagate = True
    return str(path)


def _add_plan(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`regent plan`: the dry run, and its export to a registry's own retention."""
    plan = sub.add_parser("plan", help="dry-run a retention policy file: what would go, what stays, bytes")
    plan.add_argument("--policy", required=True, metavar="FILE", help="retention policy YAML file")
    plan.add_argument(
        "--name", action="append", default=[], metavar="POLICY", help="only this policy (repeatable)"
    )
    _add_sources(plan)
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    plan.add_argument(
        "--export",
        metavar="FORMAT",
        help="also write the policies as the registry's own retention: ecr-lifecycle, harbor-retention, "
        "gar-cleanup, gitlab-cleanup, acr-purge",
    )
    plan.add_argument("--out", metavar="DIR", help="with --export: write each document to DIR as JSON")
    plan.add_argument(
        "--no-preview", action="store_true", help="with --export: skip the registry's own dry run"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="regent", description="Container registry assistant for Portainer")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines as text or one JSON object each (default: $REGENT_LOG_FORMAT, else text)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inventory = sub.add_parser("inventory", help="crawl registries and environments, save a snapshot")
    _add_sources(inventory)
    inventory.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    inventory.add_argument("--no-progress", action="store_true", help="never draw a progress bar")

    _add_plan(sub)

    apply = sub.add_parser(
        "apply", help="execute a stored plan or change (act-...) once (re-validates every item first)"
    )
    apply.add_argument("plan_id", metavar="PLAN_ID", help="a plan id, or a change id such as act-...")
    apply.add_argument(
        "--yes", action="store_true", help="really delete (without it, only says what would go)"
    )
    _add_sources(apply)

    audit = sub.add_parser("audit", help="list the audit log, or `regent audit verify` to check its chain")
    audit.add_argument("action", nargs="?", choices=["list", "verify"], default="list")
    audit.add_argument("--json", action="store_true", help="print entries as JSON")
    audit.add_argument("--limit", type=int, default=50, help="how many of the newest entries (default 50)")

    demo = sub.add_parser("demo", help="start a local registry, seed it, and show what Regent sees")
    demo.add_argument("--keep", action="store_true", help="leave the registry running until Enter is pressed")
    demo.add_argument(
        "--assistant",
        action="store_true",
        help="then ask a local 1.5B model three questions about the demo (first use: ~10 min setup)",
    )

    serve = sub.add_parser(
        "serve", help="run the Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)"
    )
    serve.add_argument("--config", help="configuration file (default: $REGENT_CONFIG or ./regent.yml)")
    serve.add_argument(
        "--port", type=int, default=3000, help="HTTP port: /slack/events (HTTP mode), /healthz"
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all interfaces)")

    chat = sub.add_parser("chat", help="ask the assistant in the terminal (proposals ask Approve? [y/N])")
    _add_sources(chat)
    chat.add_argument("--refresh", action="store_true", help="crawl before the first question")

    digest = sub.add_parser(
        "digest", help="print today's digest (tables, chart saved to a file), or --post it"
    )
    digest.add_argument("--config", help="configuration file (default: $REGENT_CONFIG or ./regent.yml)")
    digest.add_argument(
        "--post", action="store_true", help="post it to the digest channel now (and print it)"
    )
    digest.add_argument(
        "--crawl", action="store_true", help="crawl everything first (default: latest snapshot)"
    )
    digest.add_argument(
        "--chart", metavar="PATH", help="where to save the chart PNG (default: state directory)"
    )
    digest.add_argument("--no-chart", action="store_true", help="do not draw the chart")
    digest.add_argument("--no-summary", action="store_true", help="skip the optional one-call LLM summary")

    doctor = sub.add_parser(
        "doctor", help="check what the credentials can do for the configured mode (exit 0 ok, 1, 2)"
    )
    _add_sources(doctor)
    doctor.add_argument("--json", action="store_true", help="print the findings as one JSON object")

    mcp = sub.add_parser("mcp", help="serve the read-only toolbox to MCP clients (stdio, or --http PORT)")
    mcp.add_argument("--config", help="configuration file (default: $REGENT_CONFIG or ./regent.yml)")
    mcp.add_argument(
        "--http", type=int, metavar="PORT", help="streamable HTTP on PORT (needs REGENT_MCP_TOKEN)"
    )
    mcp.add_argument("--host", default="127.0.0.1", help="address for --http (default: loopback)")

    from bot.commands.report import add_report_parser
    from bot.commands.vulns import add_vulns_parser

    add_report_parser(sub)

    add_vulns_parser(sub)
    return parser


def _run_inventory(args: argparse.Namespace) -> int:
    from bot.commands.inventory import run_inventory_command

    return run_inventory_command(args)


def _run_plan(args: argparse.Namespace) -> int:
    from bot.commands.plan import run_plan_command

    return run_plan_command(args)


def _run_apply(args: argparse.Namespace) -> int:
    from bot.commands.apply import run_apply_command

    return run_apply_command(args)


def _run_audit(args: argparse.Namespace) -> int:
    from bot.commands.audit import run_audit_command

    return run_audit_command(args)


def _run_demo(args: argparse.Namespace) -> int:
    from bot.commands.demo import run_demo

    return run_demo(args)


def _run_serve(args: argparse.Namespace) -> int:
    from bot.commands.serve import run_serve

    return run_serve(args)


def _run_chat(args: argparse.Namespace) -> int:
    from bot.commands.chat import run_chat_command

    return run_chat_command(args)


def _run_digest(args: argparse.Namespace) -> int:
    from bot.commands.digest import run_digest_command

    return run_digest_command(args)


def _run_doctor(args: argparse.Namespace) -> int:
    from bot.commands.doctor import run_doctor_command

    return run_doctor_command(args)


def _run_mcp(args: argparse.Namespace) -> int:
    from bot.commands.mcp import run_mcp_command

    return run_mcp_command(args)


def _run_report(args: argparse.Namespace) -> int:
    from bot.commands.report import run_report_command

    return run_report_command(args)


def _run_vulns(args: argparse.Namespace) -> int:
    from bot.commands.vulns import run_vulns_command

    return run_vulns_command(args)


COMMANDS: dict[str, Command] = {
    "plan": _run_plan,
    "apply": _run_apply,
    "audit": _run_audit,
    "inventory": _run_inventory,
    "demo": _run_demo,
    "serve": _run_serve,
    "vulns": _run_vulns,
    "chat": _run_chat,
    "digest": _run_digest,
    "doctor": _run_doctor,
    "mcp": _run_mcp,
    "report": _run_report,
}


def _configure_logging(args: argparse.Namespace) -> None:
    from bot.config import read_env
    from bot.logs import FORMATS, configure_logging

    chosen = args.log_format or (read_env("REGENT_LOG_FORMAT") or "text").strip().lower()
    if chosen not in FORMATS:
        raise ConfigError(f"REGENT_LOG_FORMAT must be text or json, not {chosen[:20]!r}")
    configure_logging(verbose=args.verbose, log_format="json" if chosen == "json" else "text")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (tests call this in-process)."""
    return _dispatch(build_parser().parse_args(argv))


# One-shot commands that save and close everything themselves before they return.
_QUICK_EXIT = frozenset({"inventory"})


def run() -> NoReturn:
    """Entry point of the `regent` console script (and of `python -m bot.cli`).

    A one-shot crawl run from cron ends without tearing down the interpreter: freeing the snapshot, the
    caches and every module one object at a time took ~0.1 s, a tenth of a warm `regent inventory` (#17).
    By then its snapshot is saved and its database, cache and connections are closed; logs and output are
    flushed here. Every other command exits normally.
    """
    args = build_parser().parse_args()
    code = _dispatch(args)
    if args.command in _QUICK_EXIT:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError):  # a reader that went away (`| head`): nothing more to say
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        _configure_logging(args)
        return COMMANDS[args.command](args)
    except RegentError as exc:
        print(f"regent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("regent: interrupted", file=sys.stderr)
        return 130
    except Exception:
        reference = uuid.uuid4().hex[:8]
        where = record_crash(reference)
        print(f"regent: internal error (reference {reference}; details in {where})", file=sys.stderr)
        return 70


if __name__ == "__main__":
    run()
