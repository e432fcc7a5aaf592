"""Prometheus metrics of one Regent process, served at `regent serve`'s /metrics.

One `Metrics` object per App (built in bot/app.py, the composition root) owns its own CollectorRegistry:
nothing registers in prometheus_client's global registry, nothing happens at import time, and two Apps
in one test process never share a counter. The families are fed from what the domain already reports,
so no module under tools/ knows Prometheus exists:

- crawls: the snapshot's duration and each registry client's request counters (`observe_crawl`);
- event-driven refreshes and verifications (`observe_refresh`, `observe_missed`);
- tool calls: the toolbox's outcome hook (`observe_tool`), whichever front end called (LLM loop, Slack
  commands, MCP);
- LLM requests, tokens and latency: `MeteredChat` wraps the agent's chat model;
- proposals, executions, deletions and bytes reclaimed: the audit log's append hook (`observe_audit`),
  i.e. the one audit vocabulary every approval path writes;
- webhook events: the registry-notification and report-upload endpoints (`observe_webhook`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.agent.llm import ChatModel, Completion
from bot.approvals.audit import AuditEntry
from tools.inventory.inventory import RegistryTarget
from tools.toolbox.dispatch import ToolOutcome

_CRAWL_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_LLM_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 40, 60, 120)
_TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20)
_PROPOSAL_KINDS = {"proposal_created", "proposal_approved", "proposal_rejected", "proposal_expired"}
_EXECUTION_KINDS = {"execution_done", "execution_failed", "execution_error"}


class Metrics:
    """Every metric family of Regent, on one registry; the `observe_*` methods feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._crawl_families()
        self._assistant_families()
        self._change_families()
        self.webhook_events = self._counter(
            "regent_webhook_events", "Webhook events received, by source and outcome", "source", "outcome"
        )

    def _counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def _crawl_families(self) -> None:
        self.crawl_seconds = Histogram(
            "regent_crawl_duration_seconds",
            "Wall time of crawls (full, refresh: event-driven, verify: full crawl checking the events)",
            ["kind"],
            buckets=_CRAWL_BUCKETS,
            registry=self.registry,
        )
        self.crawls = self._counter(
            "regent_crawls", "Crawls by kind and outcome (ok, partial)", "kind", "outcome"
        )
        self.registry_requests = self._counter(
            "regent_registry_requests",
            "HTTP requests crawls sent to registries, by registry and answer status (none: no answer)",
            "registry",
            "status",
        )
        self.last_crawl = Gauge(
            "regent_last_crawl_timestamp_seconds",
            "When the newest saved snapshot was taken (Unix time)",
            registry=self.registry,
        )
        self.refreshed_repositories = self._counter(
            "regent_refresh_repositories", "Repositories re-crawled by event-driven refreshes", "registry"
        )
        self.missed_changes = self._counter(
            "regent_refresh_missed_changes",
            "Tag changes a full verification found that no registry notification announced",
            "registry",
        )

    def _assistant_families(self) -> None:
        self.tool_calls = self._counter(
            "regent_tool_calls", "Tool calls by tool and outcome", "tool", "outcome"
        )
        self.tool_seconds = Histogram(
            "regent_tool_call_duration_seconds",
            "Wall time of tool calls",
            ["tool"],
            buckets=_TOOL_BUCKETS,
            registry=self.registry,
        )
        self.llm_requests = self._counter(
            "regent_llm_requests", "LLM requests by outcome (ok, error)", "outcome"
        )
        self.llm_tokens = self._counter(
            "regent_llm_tokens", "LLM tokens by kind (prompt, completion)", "kind"
        )
        self.llm_seconds = Histogram(
            "regent_llm_request_duration_seconds",
            "Latency of LLM requests",
            buckets=_LLM_BUCKETS,
            registry=self.registry,
        )

    def _change_families(self) -> None:
        self.proposals = self._counter(
            "regent_proposals",
            "Proposals by change kind and outcome (created, approved, rejected, expired)",
            "kind",
            "outcome",
        )
        self.executions = self._counter(
            "regent_executions",
            "Executions of approved changes by change kind and outcome (done, failed, error)",
            "kind",
            "outcome",
        )
        self.deletions = self._counter("regent_deleted_manifests", "Manifests deleted by approved plans")
        self.reclaimed_bytes = self._counter(
            "regent_reclaimed_bytes",
            "Bytes reclaimed by approved plans (at least; the rest after the registry's garbage collection)",
        )

    # --- feeds ----------------------------------------------------------------------------------------

    def observe_crawl(
        self,
        *,
        kind: str,
        seconds: float,
        partial: bool,
        requests: Mapping[str, Mapping[str, int]],
        taken_at: float,
    ) -> None:
        """One crawl: its wall time, outcome, and per registry name the requests by status."""
        self.crawl_seconds.labels(kind).observe(seconds)
        self.crawls.labels(kind, "partial" if partial else "ok").inc()
        for registry, by_status in requests.items():
            for status, count in by_status.items():
                if count:
                    self.registry_requests.labels(registry, status).inc(count)
        self.last_crawl.set(taken_at)

    def observe_refresh(self, crawled: Mapping[str, list[str] | None]) -> None:
        """Repositories an event-driven refresh re-crawled, by registry (full crawls are counted apart)."""
        for registry, repositories in crawled.items():
            if repositories:
                self.refreshed_repositories.labels(registry).inc(len(repositories))

    def observe_missed(self, registry: str, count: int) -> None:
        """Changes a full verification found that notifications missed."""
        self.missed_changes.labels(registry).inc(count)

    def observe_tool(self, outcome: ToolOutcome) -> None:
        """One tool call's outcome: ok, or its error kind."""
        self.tool_calls.labels(outcome.name, outcome.error or "ok").inc()
        self.tool_seconds.labels(outcome.name).observe(outcome.elapsed_s)

    def observe_llm(self, *, seconds: float, completion: Completion | None) -> None:
        """One LLM request: its latency, and its tokens when it answered."""
        self.llm_seconds.observe(seconds)
        self.llm_requests.labels("ok" if completion is not None else "error").inc()
        if completion is not None:
            self.llm_tokens.labels("prompt").inc(completion.prompt_tokens)
            self.llm_tokens.labels("completion").inc(completion.completion_tokens)

    def observe_audit(self, entry: AuditEntry) -> None:
        """Proposals, executions, deletions and bytes, from the audit vocabulary of bot/approvals."""
        payload: Mapping[str, Any] = entry.payload
        kind = str(payload.get("change_kind") or "plan")
        if entry.kind in _PROPOSAL_KINDS:
            self.proposals.labels(kind, entry.kind.removeprefix("proposal_")).inc()
        elif entry.kind in _EXECUTION_KINDS:
            self.executions.labels(kind, entry.kind.removeprefix("execution_")).inc()
            self.deletions.inc(_count(payload.get("deleted")))
            self.reclaimed_bytes.inc(_count(payload.get("freed_bytes_at_least")))

    def observe_webhook(self, source: str, outcome: str, count: int = 1) -> None:
        """Events a webhook received: stored, duplicate, ignored or refused."""
        if count:
            self.webhook_events.labels(source, outcome).inc(count)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class MeteredChat:
    """A ChatModel that reports every request's latency, outcome and tokens to Metrics."""

    def __init__(self, model: ChatModel, metrics: Metrics) -> None:
        self._model = model
        self._metrics = metrics

    def complete(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        """The wrapped model's completion, timed and counted (errors too)."""
        started = time.monotonic()
        completion: Completion | None = None
        try:
            completion = self._model.complete(messages=messages, tools=tools)
            return completion
        finally:
            self._metrics.observe_llm(seconds=time.monotonic() - started, completion=completion)

    def close(self) -> None:
        """Close the wrapped model, if it holds connections."""
        close = getattr(self._model, "close", None)
        if callable(close):
            close()


def requests_by_registry(targets: Iterable[RegistryTarget]) -> dict[str, dict[str, int]]:
    """Per registry name, the requests its client sent by answer status ("none": no answer came)."""
    out: dict[str, dict[str, int]] = {}
    for target in targets:
        client = target.client
        sent = sum(client.requests.values())
        by_status = {str(status): count for status, count in client.statuses.items()}
        by_status["none"] = max(sent - sum(by_status.values()), 0)
        counts = out.setdefault(target.source.name, {})
        for status, count in by_status.items():
            counts[status] = counts.get(status, 0) + count
    return out
