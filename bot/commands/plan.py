"""`regent plan`, `regent apply`, `regent audit`: dry-run plans, their one-time execution, the audit log."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.app import DB_NAME, App, app_from_env
from bot.approvals.audit import AuditLog
from bot.commands.progress import terminal_progress
from bot.config import read_only_reason, state_dir
from tools.changes.retention import ExecutionReport
from tools.errors import ConfigError
from tools.policy.evaluate import evaluate_snapshot
from tools.policy.loader import load_policies
from tools.policy.plans import Plan, format_bytes
from tools.state import connect

_PARTICULARS = (
    (re.compile(r"sha256:[0-9a-f]{12,64}"), "<digest>"),
    (re.compile(r"'[^']*'"), "'…'"),
)
MAX_TERMINAL_ROWS = 200  # beyond this the terminal table says how many more; --json has every item

_SOURCES_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan_sources (plan_id TEXT PRIMARY KEY, sources TEXT NOT NULL)
"""


def _sources_of(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "config": args.config,
        "registry": list(args.registry),
        "portainer": args.portainer,
        "docker_host": list(args.docker_host),
    }


def _runtime(sources: dict[str, Any]) -> App:
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


def _recall_sources(db: Path, plan_id: str) -> dict[str, Any] | None:
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
    sources = _sources_of(args)
    runtime = _runtime(sources)
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
    finally:
        runtime.close()
    if args.json:
        print(json.dumps(plan_json(plan), indent=2))
    else:
        print_plan(plan, console=Console(), read_only=read_only_reason(runtime.settings) is not None)
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


def run_apply_command(args: argparse.Namespace) -> int:
    """Execute a stored plan once, after re-validating every item; the operator is the recorded approver."""
    db = state_dir() / DB_NAME
    remembered = _recall_sources(db, args.plan_id)
    given = _sources_of(args)
    sources = remembered if remembered is not None and not _any_source(given) else given
    runtime = _runtime(sources)
    try:
        reason = read_only_reason(runtime.settings)
        if reason is not None:  # before anything else: read-only never deletes, --yes or not
            raise ConfigError(f"cannot apply {args.plan_id}: {reason}")
        plan = runtime.plans.get(args.plan_id)
        if not args.yes:
            raise ConfigError(
                f"{plan.summary()}; add --yes to delete these {len(plan.items)} manifests "
                "(every tag on each digest goes with it)"
            )
        operator = f"cli:{getpass.getuser()}"
        runtime.audit.append(
            actor=operator,
            kind="decision",
            payload={
                "plan_id": plan.plan_id,
                "decision": "approve",
                "via": "regent apply --yes",
                "items_hash": plan.items_hash,
                "at": datetime.now(UTC).isoformat(),
            },
        )
        report = runtime.run_plan(plan.plan_id)
        runtime.audit.append(actor=operator, kind="execution", payload=_report_payload(report))
    finally:
        runtime.close()
    print_report(report, console=Console())
    return 0 if report.failed == 0 and report.status != "already_running" else 1


def _any_source(sources: dict[str, Any]) -> bool:
    return bool(sources["registry"] or sources["portainer"] or sources["docker_host"] or sources["config"])


def _report_payload(report: ExecutionReport) -> dict[str, Any]:
    return {
        "plan_id": report.plan_id,
        "status": report.status,
        "deleted": report.deleted,
        "already_gone": report.already_gone,
        "skipped": report.skipped,
        "failed": report.failed,
        "freed_bytes_at_least": report.freed_bytes_at_least,
        "results": [r.model_dump(mode="json") for r in report.results],
    }


def print_report(report: ExecutionReport, *, console: Console) -> None:
    """Per-item results and what is still needed to free the disk."""
    table = Table(title=f"Plan {report.plan_id}: {report.status}", title_justify="left")
    for column in ("repository", "digest", "result", "reason"):
        table.add_column(column, overflow="fold")
    for result in report.results:
        table.add_row(result.repository, result.digest[:19], result.status, result.reason)
    console.print(table)
    console.print(report.message, highlight=False, markup=False)
    for note in report.after_delete:
        console.print(note, highlight=False, markup=False)


def run_audit_command(args: argparse.Namespace) -> int:
    """List the audit log, or verify its hash chain (exit 1 when broken)."""
    log = AuditLog(state_dir() / DB_NAME)
    try:
        if args.action == "verify":
            result = log.verify()
            if result.ok:
                print(f"audit log intact: {result.checked} entries, hash chain verified")
                return 0
            print(f"audit log BROKEN at entry {result.first_bad_seq}: {result.reason}", file=sys.stderr)
            return 1
        entries = log.entries()[-args.limit :]
    finally:
        log.close()
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return 0
    table = Table(title="Audit log", title_justify="left")
    for column in ("seq", "at", "actor", "kind", "payload"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.seq),
            str(entry.at),
            entry.actor,
            entry.kind,
            json.dumps(entry.payload, sort_keys=True)[:300],
        )
    Console().print(table)
    return 0
