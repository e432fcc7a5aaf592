"""/metrics and /readyz on serve's HTTP server: the counters move after a crawl, a question and an approval.

The real composition (runtime + SlackService) with the fake Slack, the fake LLM (openai SDK over HTTP)
and the real registry; /metrics is scraped over HTTP and parsed with prometheus_client's own parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.serve.observe import Readiness, mount_observability
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.slack.conftest import SmallRegistry
from tests.integration.slack.harness import APPROVER, CHANNEL, SlackHarness, start_slack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: httpx.Client, base: str) -> Samples:
    response = http.get(f"{base}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def observed(tmp_path: Path, small_registry: SmallRegistry) -> Iterator[tuple[SlackHarness, FakeOpenAI]]:
    with (
        FakeOpenAI() as llm,
        start_slack(tmp_path, registry_url=small_registry.server.url, llm_url=llm.base_url) as harness,
    ):
        runtime = harness.service.runtime
        readiness = Readiness(runtime, connected=lambda: None, max_age=timedelta(minutes=5))
        mount_observability(harness.service.router, runtime, readiness)
        try:
            yield harness, llm
        finally:
            readiness.close()


def test_counters_move_after_a_crawl_a_question_and_an_approval(
    observed: tuple[SlackHarness, FakeOpenAI], small_registry: SmallRegistry
) -> None:
    harness, llm = observed
    base, http = harness.service.http.url, harness.http
    start = scrape(http, base)

    harness.service.runtime.refresh_snapshot()
    crawled = scrape(http, base)
    assert moved(start, crawled, "regent_crawls_total", kind="full", outcome="ok") == 1
    assert moved(start, crawled, "regent_crawl_duration_seconds_count", kind="full") == 1
    # a warm crawl of team-x/app: the catalog, one tag list and a HEAD per tag, all answered 200
    assert moved(start, crawled, "regent_registry_requests_total", registry="local", status="200") >= 5
    assert value(crawled, "regent_last_crawl_timestamp_seconds") > 0

    llm.push(
        {"tool_calls": [{"name": "get_image", "arguments": {"image": "team-x/app:2.0", "registry": None}}]},
        {"content": "team-x/app:2.0 is small."},
    )
    harness.mention("how big is team-x/app:2.0?", event_id="EvM1")
    harness.fake.wait_for("chat.update", where=lambda call: bool(call.args.get("blocks")))
    asked = scrape(http, base)
    assert moved(crawled, asked, "regent_tool_calls_total", tool="get_image", outcome="ok") == 1
    assert moved(crawled, asked, "regent_tool_call_duration_seconds_count", tool="get_image") == 1
    assert moved(crawled, asked, "regent_llm_requests_total", outcome="ok") == 2
    assert moved(crawled, asked, "regent_llm_request_duration_seconds_count") == 2
    assert moved(crawled, asked, "regent_llm_tokens_total", kind="prompt") > 0
    assert moved(crawled, asked, "regent_llm_tokens_total", kind="completion") > 0

    proposal = harness.proposals.create(
        change=small_registry.plan(), requester="U0REQ", conversation="slack:T0TEAM:C0OPS:1"
    )
    harness.slack.desk.post_cards([proposal.id], CHANNEL, None)
    harness.wait_card(proposal.id)
    harness.click(proposal.id, user=APPROVER)
    assert harness.wait_status(proposal.id, "done") == "done"
    approved = scrape(http, base)
    for outcome in ("created", "approved"):
        assert moved(asked, approved, "regent_proposals_total", kind="plan", outcome=outcome) == 1
    assert moved(asked, approved, "regent_executions_total", kind="plan", outcome="done") == 1
    assert moved(asked, approved, "regent_deleted_manifests_total") == 2
    assert moved(asked, approved, "regent_reclaimed_bytes_total") > 0

    ready = http.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.json()


def test_readyz_names_the_failing_checks(tmp_path: Path) -> None:
    with start_slack(tmp_path) as harness:
        runtime = harness.service.runtime
        connected = {"up": False}
        readiness = Readiness(runtime, connected=lambda: connected["up"], max_age=timedelta(minutes=5))
        mount_observability(harness.service.router, runtime, readiness)
        try:
            answer = harness.http.get(f"{harness.service.http.url}/readyz")
            body = answer.json()
            assert answer.status_code == 503 and body["failing"] == ["inventory", "slack"], body
            assert "no snapshot yet" in body["checks"]["inventory"]["detail"]
            assert body["checks"]["state_db"] == {"ok": True, "detail": "writable"}
            assert harness.http.get(f"{harness.service.http.url}/healthz").status_code == 200
        finally:
            readiness.close()
