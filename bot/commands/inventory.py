"""`regent inventory`: crawl everything once, save the snapshot, print a summary or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot.commands.progress import terminal_progress
from bot.inventory_run import inventory_once
from tools.inventory.models import InventorySnapshot, RegistryInventory
from tools.units import format_bytes


def run_inventory_command(args: argparse.Namespace) -> int:
    """Run one inventory with the sources from config and flags; exit 1 when any source failed.

    It crawls through `inventory_once`, not the App: the same settings, sources and save, without
    importing the toolbox and the agent, which cost more CPU than a warm crawl itself (#17).
    """
    with terminal_progress(enabled=not args.json and not args.no_progress) as progress:
        snapshot = inventory_once(
            config=args.config,
            portainer_url=args.portainer,
            registry_urls=list(args.registry or []),
            docker_hosts=list(args.docker_host or []),
            now=datetime.now(UTC),
            progress=progress,
        )
    if args.json:
        print(json.dumps(inventory_json(snapshot), indent=2))
    else:
        print_summary(snapshot)
    return 1 if snapshot.errors else 0


def inventory_json(snapshot: InventorySnapshot) -> dict[str, Any]:
    """The `--json` document: per registry counts and bytes, environments, errors, requests by method."""
    return {
        "taken_at": snapshot.taken_at.isoformat(),
        "registries": [
            {
                "name": inv.source.name,
                "url": inv.source.url,
                "repositories": len(inv.tags),
                "tags": inv.tag_count,
                "manifests": len(inv.manifests),
                "stored_bytes": inv.stored_bytes(),
                "partial": inv.partial,
                "errors": inv.errors,
                "kind": inv.source.kind,
                **_native_json(inv),
            }
            for inv in snapshot.registries
        ],
        "environments": [
            {
                "name": env.name,
                "kind": env.kind,
                "status": env.status,
                "deployments": sum(1 for d in snapshot.deployments if d.environment_id == env.id),
            }
            for env in snapshot.environments
        ],
        "deployments": len(snapshot.deployments),
        "errors": snapshot.errors,
        "requests": snapshot.requests,
    }


def _native_json(inventory: RegistryInventory) -> dict[str, Any]:
    """The registry API's own clocks and sizes per digest, with their origins; nothing for plain v2."""
    digests = sorted(set(inventory.pushed) | set(inventory.last_pulled) | set(inventory.native_sizes))
    if not digests and not (inventory.push_clock or inventory.pull_clock):
        return {}
    return {
        "push_clock": inventory.push_clock,
        "pull_clock": inventory.pull_clock,
        "native": {
            digest: {
                "pushed": _iso(inventory.pushed.get(digest)),
                "last_pulled": _iso(inventory.last_pulled.get(digest)),
                "size": inventory.native_sizes.get(digest),
            }
            for digest in digests
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def print_summary(snapshot: InventorySnapshot, *, file: Any = None) -> None:
    """A readable summary of a snapshot for the terminal."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout)
    table = Table(title="Registries", title_justify="left")
    for column in ("registry", "repositories", "tags", "manifests", "stored"):
        table.add_column(column, justify="left" if column == "registry" else "right")
    for inv in snapshot.registries:
        name = inv.source.name + (" (partial)" if inv.partial else "")
        table.add_row(
            name,
            str(len(inv.tags)),
            str(inv.tag_count),
            str(len(inv.manifests)),
            format_bytes(inv.stored_bytes()),
        )
    console.print(table)
    if snapshot.environments:
        envs = Table(title="Environments", title_justify="left")
        for column in ("environment", "kind", "status", "deployments"):
            envs.add_column(column)
        for env in snapshot.environments:
            count = sum(1 for d in snapshot.deployments if d.environment_id == env.id)
            envs.add_row(env.name, env.kind, env.status, str(count))
        console.print(envs)
    for error in snapshot.errors:
        console.print(f"[yellow]warning:[/yellow] {error}", markup=True, highlight=False)
    total = sum(snapshot.requests.values())
    console.print(
        f"{total} HTTP requests ({', '.join(f'{k} {v}' for k, v in sorted(snapshot.requests.items()))})"
    )
