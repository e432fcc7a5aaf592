"""The digest's "Registry activity" section, built by the real DigestRunner from the runtime's event store."""

from __future__ import annotations

import io
import json
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from bot.app import build_app
from bot.config import Secrets, Settings
from bot.digest.runner import DigestRunner
from bot.digest.sections_events import events_providers
from bot.digest.terminal import print_digest
from bot.slack.digest_blocks import digest_message
from tests.events_factory import event
from tests.fakes.synthetic import NOW, synthetic_snapshot


def test_the_digest_gets_a_registry_activity_section(tmp_path: Path) -> None:
    settings = Settings.model_validate({"events": {"ignore_actors": ["trivy-*"]}})
    runtime = build_app(settings=settings, secrets=Secrets(), state_dir=tmp_path, clock=lambda: NOW)
    try:
        runtime.snapshots.save(synthetic_snapshot(tags=20, now=NOW - timedelta(hours=1)))
        history = [
            event("push", tag=f"b{d}", actor="ci", at=NOW - timedelta(days=d, hours=3)) for d in range(2, 12)
        ]
        recent = [
            event("push", tag="evil", actor="mallory", at=NOW - timedelta(hours=2)),
            event("pull", tag="latest", actor="node", at=NOW - timedelta(hours=2)),
            event("pull", tag="latest", actor="trivy-scanner", at=NOW - timedelta(hours=2)),
        ]
        runtime.events.add([*history, *recent], now=NOW)
        with closing(
            DigestRunner(runtime, extra_providers=events_providers(runtime), clock=lambda: NOW)
        ) as runner:
            digest, _plan = runner.build(now=NOW)
        [section] = [s for s in digest.sections if s.key == "events"]
        assert section.title == "Registry activity" and section.severity == "risk"
        assert (
            section.lines[0]
            == "1 pushes and 1 pulls in the last 24 h (1 more by scanners and CI, not counted)"
        )
        assert section.table is not None
        assert section.table.rows == [["high", "new pusher", section.table.rows[0][2]]]
        assert "mallory" in section.table.rows[0][2]
        console = Console(file=io.StringIO(), width=160)
        print_digest(digest, console=console)  # both renderers show the section
        assert "Registry activity" in console.file.getvalue()  # type: ignore[attr-defined]
        blocks = json.dumps(digest_message(digest).payload())
        assert "Registry activity" in blocks and "mallory" in blocks
    finally:
        runtime.close()


def test_no_events_no_section(tmp_path: Path) -> None:
    runtime = build_app(settings=Settings(), secrets=Secrets(), state_dir=tmp_path, clock=lambda: NOW)
    try:
        runtime.snapshots.save(synthetic_snapshot(tags=5, now=NOW - timedelta(hours=1)))
        with closing(
            DigestRunner(runtime, extra_providers=events_providers(runtime), clock=lambda: NOW)
        ) as runner:
            digest, _plan = runner.build(now=NOW)
        assert not [s for s in digest.sections if s.key == "events"]
    finally:
        runtime.close()
