"""`regent plan --export FORMAT [--out DIR]`: the plan's policies as the registry's own retention documents.

The exporter (tools/policy/export/<format>.py) writes the documents and says what they cannot express and
which planned items the native rule would treat differently; where the registry can dry-run a document
(a previewer is registered for the format), its verdicts are shown next to Regent's, row by row. Nothing
here changes a registry: a native preview is a dry run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.app import App
from bot.sources import build_sources
from tools.errors import ConfigError, RegentError
from tools.inventory.models import InventorySnapshot
from tools.policy.export.base import (
    Exporter,
    ExportRequest,
    NativeExport,
    NativePreview,
    Previewer,
    exporter,
    previewer,
)
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class ExportResult:
    """What one export produced: the exporter's answer, files written, the native previews."""

    export: NativeExport
    written: list[Path] = field(default_factory=list)
    previews: list[NativePreview] = field(default_factory=list)
    preview_error: str | None = None


def chosen_exporter(name: str | None) -> Exporter | None:
    """The exporter for `--export`, checked before any crawl (ConfigError naming the known formats)."""
    return exporter(name) if name else None


def run_export(
    export: Exporter,
    *,
    policies: PolicyFile,
    plan: Plan,
    snapshot: InventorySnapshot,
    now: datetime,
    runtime: App,
    out: Path | None,
    preview: bool,
) -> ExportResult:
    """Export, write the documents to `out` (when given), and run the native preview if the format has one."""
    request = ExportRequest(policies=policies, plan=plan, snapshot=snapshot, now=now)
    result = ExportResult(export(request))
    if out is not None:
        result.written = write_documents(result.export, out)
    previews = previewer(result.export.format) if preview and result.export.documents else None
    if previews is not None:
        try:
            result.previews = _preview(previews, result.export, request, runtime)
        except RegentError as exc:  # a dry run that fails leaves the export as it is
            result.preview_error = str(exc)
    return result


def _preview(
    previews: Previewer, export: NativeExport, request: ExportRequest, runtime: App
) -> list[NativePreview]:
    sources = build_sources(
        runtime.settings,
        runtime.secrets,
        registry_urls=runtime.registry_urls,
        docker_hosts=[],
        store=runtime.snapshots,
        cache_dir=runtime.state_dir / "cache",
    )
    try:
        clients = {target.source.name: target.client for target in sources.registries}
        found: list[NativePreview] = previews(export, request, clients)
        return found
    finally:
        sources.close()


def write_documents(export: NativeExport, out: Path) -> list[Path]:
    """One JSON file per document, named after it (`team__api.json`); refuses to overwrite a directory."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: {exc.strerror or exc}") from exc
    written: list[Path] = []
    for name, document in sorted(export.documents.items()):
        path = out / f"{_UNSAFE.sub('_', name.replace('/', '__')).strip('.') or 'document'}.json"
        path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
        written.append(path)
    return written


def export_json(result: ExportResult) -> dict[str, Any]:
    """The `export` part of `regent plan --export … --json`."""
    export = result.export
    return {
        "format": export.format,
        "documents": export.documents,
        "written": [str(p) for p in result.written],
        "unexpressed": list(export.unexpressed),
        "differences": [
            {
                "registry": d.registry,
                "repository": d.repository,
                "digest": d.digest,
                "tags": list(d.tags),
                "regent": d.regent,
                "native": d.native,
                "why": d.why,
            }
            for d in export.differences
        ],
        "notes": list(export.notes),
        "previews": [
            {
                "registry": p.registry,
                "repository": p.repository,
                "status": p.status,
                "rows": [
                    {
                        "digest": r.digest,
                        "tags": list(r.tags),
                        "regent": r.regent,
                        "regent_reason": r.regent_reason,
                        "native": r.native,
                        "native_reason": r.native_reason,
                        "agrees": r.agrees,
                    }
                    for r in p.rows
                ],
            }
            for p in result.previews
        ],
        "preview_error": result.preview_error,
    }


def print_export(result: ExportResult, *, console: Console) -> None:
    """Documents (or where written), what the format cannot say, differences, notes, native previews."""
    export = result.export
    console.rule(f"Export: {export.format}")
    if result.written:
        for path in result.written:
            console.print(f"wrote {path}", highlight=False)
    else:
        for name, document in sorted(export.documents.items()):
            console.print(f"# {name}", highlight=False, markup=False)
            console.print(json.dumps(document, indent=2), highlight=False, markup=False, soft_wrap=True)
    if not export.documents:
        console.print("no documents: nothing in the snapshot is this format's registry kind", highlight=False)
    if export.unexpressed:
        console.print("Not expressible in the native rules:", highlight=False)
        for text in export.unexpressed:
            console.print(f"  - {text}", highlight=False, markup=False)
    _print_differences(export, console)
    for note in export.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    for preview in result.previews:
        _print_preview(preview, console)
    if result.preview_error:
        console.print(f"native preview not shown: {result.preview_error}", highlight=False, markup=False)


def _print_differences(export: NativeExport, console: Console) -> None:
    if not export.differences:
        console.print("Differences: none, the native rules treat every planned item as Regent does")
        return
    table = Table(title=f"Differences ({len(export.differences)})", title_justify="left")
    for column in ("registry", "repository", "tags", "Regent", "native", "why"):
        table.add_column(column, overflow="fold")
    for d in export.differences:
        tags = ", ".join(d.tags) or f"(untagged {d.digest[:19]})"
        table.add_row(d.registry, d.repository, tags, d.regent, d.native, d.why)
    console.print(table)


def _print_preview(preview: NativePreview, console: Console) -> None:
    """Regent's plan and the registry's dry run side by side, disagreements marked."""
    differ = sum(1 for row in preview.rows if not row.agrees)
    table = Table(
        title=f"{preview.registry}/{preview.repository}: Regent's plan | native preview ({preview.status}), "
        f"{differ} differ",
        title_justify="left",
    )
    for column in ("", "digest", "tags", "Regent", "Regent's reason", "native", "native's reason"):
        table.add_column(column, overflow="fold")
    for row in preview.rows:
        table.add_row(
            "≠" if not row.agrees else "",
            row.digest[:19],
            ", ".join(row.tags) or "(untagged)",
            row.regent,
            row.regent_reason,
            row.native,
            row.native_reason,
        )
    console.print(table)
