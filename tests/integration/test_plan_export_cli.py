"""`regent plan --export FORMAT [--out DIR]` (#13): the CLI path, with a tiny format registered by the test.

The real formats (ecr-lifecycle, harbor-retention, ...) are tested by their own modules; here a format that
writes one document per repository, names one rule it cannot express, one differing item and a note, and
has a dry run, proves what the command does with them: files or stdout, the differences table, the notes,
the side-by-side preview, --json, and exit 2 for an unknown format before anything is crawled.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tools.policy.export import base
from tools.policy.export.base import (
    ExportRequest,
    ItemDifference,
    NativeExport,
    NativePreview,
    PreviewClients,
    PreviewRow,
)
from tools.registry.kinds.base import NativeRegistry

NOW = dt.datetime.now(dt.UTC)
POLICY = """\
policies:
  - name: cleanup
    repositories: ["**"]
    keep:
      - most_recent: 1
    delete:
      - all: true
"""
SEEN: dict[str, object] = {}


def tiny_export(request: ExportRequest) -> NativeExport:
    """One document per repository with planned items; the first item is said to differ."""
    documents = {
        f"{i.repository}": {
            "delete": sorted(x.digest for x in request.plan.items if x.repository == i.repository)
        }
        for i in request.plan.items
    }
    first = request.plan.items[0]
    difference = ItemDifference(
        first.registry, first.repository, first.digest, tuple(first.tags), "delete", "keep", "tiny keeps it"
    )
    return NativeExport(
        format="tiny-retention",
        documents=documents,
        unexpressed=("keep most_recent: tiny has no order",),
        differences=(difference,),
        notes=("apply with tiny-cli put <document>",),
    )


def tiny_preview(
    export: NativeExport, request: ExportRequest, clients: PreviewClients
) -> list[NativePreview]:
    """The registry's 'dry run': expires what the document lists, except the first item."""
    name = request.plan.items[0].registry
    SEEN["client"] = clients.get(name)
    first = request.plan.items[0].digest
    rows = tuple(
        PreviewRow(
            digest=i.digest,
            tags=tuple(i.tags),
            regent="delete",
            native="keep" if i.digest == first else "expire",
            regent_reason=i.reason,
            native_reason="" if i.digest == first else "rule 1",
        )
        for i in request.plan.items
    )
    return [NativePreview(name, request.plan.items[0].repository, "COMPLETE", rows)]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI in this process (so the test's format is registered), with its own state and no config."""
    for key in [k for k in os.environ if k.startswith(("PORTAINER_", "REGENT_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("REGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(base.EXPORTERS, "tiny-retention", f"{__name__}:tiny_export")
    monkeypatch.setitem(base.PREVIEWERS, "tiny-retention", f"{__name__}:tiny_preview")
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    return policy


def _seed(seeder: Seeder) -> list[str]:
    return [
        seeder.push_image(
            ImageSpec("team/api", tag, created=NOW - dt.timedelta(days=n), extra_layer_seed=tag)
        ).digest
        for n, tag in enumerate(("3", "2", "1"))
    ]


def export_tiny(policy: Path, registry_url: str, *more: str) -> int:
    """`regent plan --export tiny-retention` of the policy file over one registry, with more arguments."""
    return main(
        ["plan", "--policy", str(policy), "--registry", registry_url, "--export", "tiny-retention", *more]
    )


def test_export_writes_documents_and_shows_differences_notes_and_the_preview_side_by_side(
    registry: RegistryServer, seeder: Seeder, cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digests = _seed(seeder)  # the newest ("3") is kept, "2" and "1" go
    out = tmp_path / "out"
    code = export_tiny(cli, registry.url, "--out", str(out))
    text = capsys.readouterr().out
    assert code == 0, text
    written = json.loads((out / "team__api.json").read_text())
    assert written == {"delete": sorted(digests[1:])}
    assert f"wrote {out / 'team__api.json'}" in text
    assert "keep most_recent: tiny has no order" in text
    assert "tiny keeps it" in text and "note: apply with tiny-cli put <document>" in text
    # Regent's plan and the native preview side by side: one row differs, and is marked
    assert "Regent's plan | native preview (COMPLETE), 1 differ" in text
    assert "≠" in text and "rule 1" in text
    assert isinstance(SEEN["client"], NativeRegistry)


def test_export_json_and_documents_on_stdout(
    registry: RegistryServer, seeder: Seeder, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digests = _seed(seeder)
    code = export_tiny(cli, registry.url, "--json", "--no-preview")
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {i["digest"] for i in document["items"]} == set(digests[1:])
    export = document["export"]
    assert export["documents"] == {"team/api": {"delete": sorted(digests[1:])}}
    assert export["written"] == [] and export["previews"] == []
    (difference,) = export["differences"]
    assert (difference["regent"], difference["native"], difference["why"]) == (
        "delete",
        "keep",
        "tiny keeps it",
    )


def test_unknown_format_exits_2_naming_the_known_ones_before_any_crawl(
    cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["plan", "--policy", str(cli), "--registry", "http://127.0.0.1:9", "--export", "nope"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown export format 'nope'; known:" in err and "tiny-retention" in err
    assert not (tmp_path / "state" / "regent.db").exists()  # nothing was crawled or stored
