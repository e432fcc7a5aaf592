"""Ticket payload presets posted to a local webhook over real HTTP (the approval step is the caller's)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tools.errors import UpstreamError
from tools.vulns.tickets import TicketTarget, draft_ticket, send_ticket, ticket_payload
from tools.vulns.views import CveGroup

GROUP = CveGroup(
    cve="CVE-2026-1001",
    priority="P1",
    score=747.0,
    kev=True,
    epss=0.9,
    severity="CRITICAL",
    cvss=9.8,
    fixable=True,
    fixed_versions=["3.1.4-r5"],
    packages=["libcrypto3 3.1.4-r1"],
    images=["platform/base:alpine-3.19.1", "shop/api:1.4.0"],
    environments=["prod-eu"],
    exposure="production",
    from_base=True,
    reason="known exploited (CISA KEV, added 2026-10-02) → (400 + 98) * 1.5 * 1 = 747 (P1)",
    findings=2,
)


class Webhook:
    """Records what was posted; answers with `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.status = 201
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.received.append((self.path, dict(self.headers), body))
                answer = json.dumps({"key": "SEC-42"}).encode()
                self.send_response(hook.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def test_presets_post_the_tracker_shapes(webhook: Webhook) -> None:
    draft = draft_ticket(GROUP)
    assert draft.title == "[P1] CVE-2026-1001 in libcrypto3 3.1.4-r1 (2 images)"
    jira = TicketTarget(url=f"{webhook.url}/rest/api/2/issue", preset="jira", project="SEC")
    result = send_ticket(draft, jira, token="Basic dXNlcjp0b2tlbg==")
    assert result.status == 201 and "SEC-42" in result.body
    servicenow = TicketTarget(
        url=f"{webhook.url}/api/now/table/incident", preset="servicenow", assignment_group="Platform"
    )
    send_ticket(draft, servicenow, token="s3cret")
    send_ticket(draft, TicketTarget(url=f"{webhook.url}/hooks/tickets"), token=None)
    (jira_path, jira_headers, jira_body), (sn_path, sn_headers, sn_body), (_, generic_headers, generic) = (
        webhook.received
    )
    assert jira_path == "/rest/api/2/issue" and jira_headers["Authorization"] == "Basic dXNlcjp0b2tlbg=="
    assert jira_body["fields"]["project"] == {"key": "SEC"} and jira_body["fields"]["issuetype"] == {
        "name": "Bug"
    }
    assert jira_body["fields"]["labels"] == ["regent", "vulnerability", "CVE-2026-1001"]
    assert "Runs in: prod-eu" in jira_body["fields"]["description"]
    assert sn_path == "/api/now/table/incident" and sn_headers["Authorization"] == "Bearer s3cret"
    assert (sn_body["urgency"], sn_body["impact"], sn_body["assignment_group"]) == ("1", "1", "Platform")
    assert "Authorization" not in generic_headers
    assert generic["source"] == "regent" and generic["fixed_versions"] == ["3.1.4-r5"]
    assert (
        ticket_payload(draft, TicketTarget(url="http://x", preset="servicenow"))["short_description"]
        == draft.title
    )


def test_a_refused_ticket_is_an_upstream_error(webhook: Webhook) -> None:
    webhook.status = 400
    with pytest.raises(UpstreamError, match=r"answered 400"):
        send_ticket(draft_ticket(GROUP), TicketTarget(url=f"{webhook.url}/x"), token=None)
