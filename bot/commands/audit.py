"""`regent audit`: list the hash-chained audit log, or `regent audit verify` to check the chain."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from bot.app import DB_NAME
from bot.approvals.audit import AuditLog
from bot.config import state_dir


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
