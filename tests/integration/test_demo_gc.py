"""`regent demo` shows the garbage collection proposal and the compliance report (#16), quickly."""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
import time
from pathlib import Path

import pytest
from rich.console import Console

from bot.commands import demo
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from tools.changes.actions import ActionStore

pytestmark = pytest.mark.real


def test_the_demo_proposes_gc_with_the_plans_bytes_and_writes_the_compliance_pdf(
    registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=1000))
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    with Seeder(registry.url) as seeder:
        seed_sample(seeder, now=dt.datetime.now(dt.UTC), runnable=False)
    state = tmp_path / "state"
    state.mkdir()
    snapshot = demo._crawl(registry, None, state)
    plan = demo._print_sample_plan(snapshot, state)
    started = time.monotonic()
    demo._print_gc_and_compliance(snapshot, state, plan)
    assert time.monotonic() - started < 10  # the demo stays well under 30 s in all

    text = out.getvalue()
    assert "Proposal: Run garbage collection on demo-registry (expected to free" in text
    assert f"Predicted {plan.reclaimable_bytes:,} bytes; the plan says {plan.reclaimable_bytes:,}" in text
    assert "regent apply act-" in text and "--delete-untagged" in text
    assert "# Registry compliance evidence" in text and "; evidence SHA-256 sha256:" in text
    pdf = tmp_path / demo.COMPLIANCE_PDF
    assert pdf.read_bytes().startswith(b"%PDF")
    found = re.search(r"regent apply (act-[0-9a-f-]+) --yes", text)
    assert found is not None
    actions = ActionStore(state / "regent.db")
    action = actions.get(found.group(1))  # stored with its proposal: `regent apply` would run it
    assert action.kind == "gc_run" and action.target["predicted_bytes"] == plan.reclaimable_bytes
    actions.close()
