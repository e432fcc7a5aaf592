"""`regent plan`: crawl, evaluate a policy file, store the dry-run plan and print it; deletes nothing.

`regent apply` (bot/commands/apply.py) runs a stored plan; the sources a plan was made from are remembered
here so it re-validates against the same registries and environments.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.app import DB_NAME, App, app_from_env
from bot.commands.plan_export import ExportResult, chosen_exporter, export_json, print_export, run_export
from bot.commands.progress import terminal_progress
from bot.config import read_only_reason
from tools.policy.evaluate import evaluate_snapshot
from tools.policy.loader import load_policies
from tools.policy.plans import Plan
from tools.state import connect
from tools.units import format_bytes

_PARTICULARS = (
    (re.compile(r"sha256:[0-9a-f]{12,64}"), "<digest>"),
    (re.compile(r"'[^']*'"), "'…'"),
)
MAX_TERMINAL_ROWS = 200  # beyond this the terminal table says how many more; --json has every item

_SOURCES_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan_sources (plan_id TEXT PRIMARY KEY, sources TEXT NOT NULL)
"""


def plan_sources(args: argparse.Namespace) -> dict[str, Any]:
    """The sources given on the command line (config, registries, Portainer, Docker hosts)."""
    return {
        "config": args.config,
        "registry": list(args.registry),
        "portainer": args.portainer,
        "docker_host": list(args.docker_host),
    }


def open_app(sources: dict[str, Any]) -> App:
    """The app for these sources (the caller closes it)."""
    return app_from_env(
        config=sources["config"],
        portainer_url=sources["portainer"],
        registry_urls=sources["registry"],
        docker_hosts=sources["docker_host"],
    )


def _remember_sources(db: Path, plan_id: str, sources: dict[str, Any]) -> None:
    conn = connect(db)
    try:
        conn.execute(_SOURCES_SCHEMA)
        conn.execute("INSERT OR IGNORE INTO plan_sources VALUES (?, ?)", (plan_id, json.dumps(sources)))
    finally:
        conn.close()


def recall_sources(db: Path, plan_id: str) -> dict[str, Any] | None:
    """The sources a plan was made from, if `regent plan` made it here."""
    conn = connect(db)
    try:
        conn.execute(_SOURCES_SCHEMA)
        row = conn.execute("SELECT sources FROM plan_sources WHERE plan_id = ?", (plan_id,)).fetchone()
    finally:
        conn.close()
    return json.loads(row[0]) if row else None


def run_plan_command(args: argparse.Namespace) -> int:
    """Crawl the sources, evaluate the policy file, store the plan, print it; deletes nothing."""
    policies = load_policies(args.policy)
    export = chosen_exporter(getattr(args, "export", None))  # an unknown format: exit 2 before any crawl
    sources = plan_sources(args)
    runtime = open_app(sources)
    exported: ExportResult | None = None
    try:
        with terminal_progress(enabled=not args.json) as progress:
            snapshot = runtime.refresh_snapshot(progress=progress)
        plan = evaluate_snapshot(
            policies,
            snapshot,
            now=runtime.clock(),
            history=runtime.history(snapshot),
            names=args.name or None,
        )
        runtime.plans.save(plan)
        _remember_sources(runtime.state_dir / DB_NAME, plan.plan_id, sources)
        runtime.audit.append(
            actor=f"cli:{getpass.getuser()}",
            kind="plan",
            payload={
                "plan_id": plan.plan_id,
                "policy_file": str(args.policy),
                "items": len(plan.items),
                "reclaimable_bytes": plan.reclaimable_bytes,
                "items_hash": plan.items_hash,
            },
        )
        if export is not None:
            out = getattr(args, "out", None)
            exported = run_export(
                export,
                policies=policies,
                plan=plan,
                snapshot=snapshot,
                now=runtime.clock(),
                runtime=runtime,
                out=Path(out) if out else None,
                preview=not getattr(args, "no_preview", False),
            )
    finally:
        runtime.close()
    if args.json:
        document = plan_json(plan)
        print(json.dumps({**document, "export": export_json(exported)} if exported else document, indent=2))
    else:
        console = Console()
        print_plan(plan, console=console, read_only=read_only_reason(runtime.settings) is not None)
        if exported is not None:
            print_export(exported, console=console)
    return 1 if snapshot.errors else 0


def plan_json(plan: Plan) -> dict[str, Any]:
    """The `--json` document of a plan."""
    return {
        "plan_id": plan.plan_id,
        "items": [
            {
                "registry": i.registry,
                "repository": i.repository,
                "digest": i.digest,
                "tags": i.tags,
                "reason": i.reason,
                "bytes": i.bytes,
            }
            for i in plan.items
        ],
        "kept": [k.model_dump(mode="json") for k in plan.kept],
        "reclaimable_bytes": plan.reclaimable_bytes,
        "shared_bytes": plan.shared_bytes,
        "items_hash": plan.items_hash,
        "policies": plan.policies,
        "after_delete": [r.after_delete for r in plan.registries],
        "warnings": plan.warnings,
    }


def print_plan(plan: Plan, *, console: Console, read_only: bool = False) -> None:
    """The plan as tables: what goes (with reasons and exclusive bytes), what stays and why, the total."""
    items = Table(title=f"Plan {plan.plan_id}: delete {len(plan.items)} manifests", title_justify="left")
    for column in ("repository", "digest", "tags", "reason", "bytes"):
        items.add_column(column, justify="right" if column == "bytes" else "left", overflow="fold")
    for item in plan.items[:MAX_TERMINAL_ROWS]:
        items.add_row(
            item.repository,
            item.digest[:19],
            ", ".join(item.tags) or "(untagged)",
            item.reason,
            format_bytes(item.bytes),
        )
    console.print(items)
    if len(plan.items) > MAX_TERMINAL_ROWS:
        console.print(f"… {len(plan.items) - MAX_TERMINAL_ROWS} more items (use --json for all)")
    reasons: dict[str, int] = {}
    for kept in plan.kept:
        key = kept_reason_kind(kept.reason)
        reasons[key] = reasons.get(key, 0) + 1
    if reasons:
        console.print(
            "Kept: " + "; ".join(f"{count} x {why}" for why, count in sorted(reasons.items())),
            highlight=False,
            markup=False,
        )
    console.print(
        f"Reclaimable after garbage collection: {format_bytes(plan.reclaimable_bytes)} "
        f"({plan.reclaimable_bytes} bytes; {format_bytes(plan.shared_bytes)} of it only because "
        "several items go together)",
        highlight=False,
    )
    for registry in plan.registries:
        console.print(f"{registry.name}: {registry.after_delete}", highlight=False, markup=False)
    for warning in plan.warnings:
        console.print(f"warning: {warning}", highlight=False, markup=False)
    if read_only:
        console.print("Nothing was deleted. Read-only mode: this plan can be reviewed but not applied.")
    else:
        console.print(f"Nothing was deleted. To execute: regent apply {plan.plan_id} --yes", highlight=False)


def kept_reason_kind(reason: str) -> str:
    """A reason without its particulars (digests, dates, ranks, names), to count kept digests by rule."""
    if reason.startswith("in use"):
        return "in use"
    for pattern, replacement in _PARTICULARS:
        reason = pattern.sub(replacement, reason)
    return reason.split(": ", 1)[0] if reason.startswith("policy ") else reason
