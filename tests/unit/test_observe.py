"""Settings of the crawl schedule, the readiness age limit, JSON status lines and the audit-fed metrics."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.app import build_app
from bot.approvals.audit import AuditLog
from bot.config import Secrets, Settings
from bot.logs import STATUS, configure_logging, say
from bot.metrics import Metrics
from bot.serve.observe import readiness_age_limit


def test_inventory_settings_validate_the_cron_and_zone() -> None:
    with pytest.raises(ValidationError, match="minute '61'"):
        Settings.model_validate({"inventory": {"crawl_cron": "61 * * * *"}})
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings.model_validate({"inventory": {"timezone": "Mars/Olympus"}})
    assert Settings().inventory.crawl_cron is None  # no scheduled crawls unless asked for


def test_readiness_age_limit(tmp_path: Path) -> None:
    def limit(inventory: dict[str, object], *, crawls: bool) -> timedelta | None:
        settings = Settings.model_validate({"inventory": inventory})
        runtime = build_app(settings=settings, secrets=Secrets(), state_dir=tmp_path)
        try:
            return readiness_age_limit(runtime, crawls=crawls, interval=timedelta(minutes=30))
        finally:
            runtime.close()

    assert limit({"max_age_minutes": 45}, crawls=False) == timedelta(minutes=45)
    assert limit({"crawl_cron": "*/30 * * * *"}, crawls=True) == timedelta(minutes=90)
    assert limit({}, crawls=False) is None


def test_status_lines_are_json_objects_in_json_mode(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        configure_logging(verbose=False, log_format="json")
        say("serving; health on http://127.0.0.1:1/healthz")
        record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert record["message"] == "serving; health on http://127.0.0.1:1/healthz"
        assert record["level"] == "INFO" and record["logger"] == STATUS and "T" in record["time"]
        configure_logging(verbose=False, log_format="text")
        say("stopping")
        assert capsys.readouterr().err.strip().splitlines()[-1] == "regent: stopping"
    finally:
        logging.getLogger(STATUS).handlers.clear()


def test_audit_entries_feed_proposals_executions_and_bytes(tmp_path: Path) -> None:
    metrics = Metrics()
    audit = AuditLog(tmp_path / "regent.db")
    audit.observe(metrics.observe_audit)
    try:
        audit.append(actor="U1", kind="proposal_created", payload={"change_kind": "plan"})
        audit.append(actor="U2", kind="proposal_rejected", payload={"change_kind": "suspension"})
        done = {"change_kind": "plan", "deleted": 3, "freed_bytes_at_least": 4096}
        audit.append(actor="regent", kind="execution_done", payload=done)
        audit.append(
            actor="regent", kind="execution_failed", payload={"change_kind": "plan", "deleted": True}
        )
        audit.append(actor="U1", kind="tool_call", payload={"tool": "get_image"})
    finally:
        audit.close()
    sample = metrics.registry.get_sample_value
    assert sample("regent_proposals_total", {"kind": "plan", "outcome": "created"}) == 1
    assert sample("regent_proposals_total", {"kind": "suspension", "outcome": "rejected"}) == 1
    assert sample("regent_executions_total", {"kind": "plan", "outcome": "done"}) == 1
    assert sample("regent_executions_total", {"kind": "plan", "outcome": "failed"}) == 1
    assert sample("regent_deleted_manifests_total") == 3  # a malformed count (True) counts nothing
    assert sample("regent_reclaimed_bytes_total") == 4096


def test_two_apps_never_share_a_counter(tmp_path: Path) -> None:
    first = build_app(settings=Settings(), secrets=Secrets(), state_dir=tmp_path / "a")
    second = build_app(settings=Settings(), secrets=Secrets(), state_dir=tmp_path / "b")
    try:
        first.metrics.observe_webhook("distribution", "stored", 2)
        labels = {"source": "distribution", "outcome": "stored"}
        assert first.metrics.registry.get_sample_value("regent_webhook_events_total", labels) == 2
        assert second.metrics.registry.get_sample_value("regent_webhook_events_total", labels) is None
    finally:
        first.close()
        second.close()
