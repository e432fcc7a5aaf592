"""`regent report compliance`: the compliance evidence report as Markdown, PDF or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `regent report compliance …`."""
    report = sub.add_parser("report", help="reports for auditors: `regent report compliance`")
    kinds = report.add_subparsers(dest="report_kind", required=True, metavar="REPORT")
    compliance = kinds.add_parser(
        "compliance", help="signing, policy adherence, access, change history, vulnerabilities (sealed)"
    )
    compliance.add_argument("--config", help="configuration file (default: $REGENT_CONFIG or ./regent.yml)")
    compliance.add_argument("--registry", help="only this registry (name)")
    compliance.add_argument("--format", choices=["md", "pdf", "json"], default="md")
    compliance.add_argument("--output", metavar="PATH", help="write here (default: stdout; pdf needs it)")
    compliance.add_argument(
        "--evidence", metavar="PATH", help="also write the evidence JSON whose SHA-256 the report prints"
    )


def run_report_command(args: argparse.Namespace) -> int:
    """Build the evidence from the latest snapshot and write the report."""
    from bot.app import app_from_env
    from tools.compliance.evidence import canonical, seal
    from tools.compliance.render import to_markdown, to_pdf
    from tools.errors import ConfigError
    from tools.toolbox.compliance import evidence_for
    from tools.toolbox.context import Call

    if args.format == "pdf" and not args.output:
        raise ConfigError("a PDF needs --output PATH")
    app = app_from_env(config=args.config)
    try:
        evidence = evidence_for(
            Call(context=app.toolbox.context, user="cli", conversation="cli"), args.registry
        )
    finally:
        app.close()
    sealed = json.dumps({"evidence": json.loads(canonical(evidence)), "sha256": seal(evidence)}, indent=2)
    if args.evidence:
        Path(args.evidence).write_text(sealed + "\n")
    if args.format == "json":
        data = (sealed + "\n").encode()
    elif args.format == "pdf":
        data = to_pdf(evidence)
    else:
        data = to_markdown(evidence).encode()
    if args.output:
        Path(args.output).write_bytes(data)
        print(
            f"regent: compliance report written to {args.output} (evidence {seal(evidence)})", file=sys.stderr
        )
    else:
        sys.stdout.write(data.decode())
    return 0
