"""Issue 12 through a running `regent serve`: Harbor's hand-typed header, hostile JSON and bad digests.

Cases 2, 7 and 9 on the webhook side, end to end: the real process, real HTTP, the real state file.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.cli import serving_regent
from tests.events_factory import harbor_payload
from tests.fakes.slack_api import FakeSlackApi
from tests.integration.slack.harness import SECRET as SIGNING_SECRET
from tools.events.store import EventStore
from tools.vulns.store import VulnStore

EVENTS_SECRET, VULNS_TOKEN = "events-real-inputs", "vulns-real-inputs"
HARBOR_DIGEST = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
DEEP = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
JSON = {"Content-Type": "application/json"}


def test_serve_takes_lower_case_bearer_and_refuses_hostile_bodies_with_4xx(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeSlackApi() as fake:
        env = {
            "REGENT_STATE_DIR": str(state),
            "SLACK_BOT_TOKEN": "xoxb-real-inputs",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "REGENT_EVENTS_SECRET": EVENTS_SECRET,
            "REGENT_VULNS_TOKEN": VULNS_TOKEN,
        }
        with serving_regent(env, home=tmp_path) as served, httpx.Client(timeout=30) as http:
            events = {**JSON, "Authorization": f"bearer {EVENTS_SECRET}"}  # case 7: typed by hand in Harbor
            good = harbor_payload(repository="harbor/alpine", digest=HARBOR_DIGEST)
            stored = http.post(f"{served.base}/events/harbor", content=json.dumps(good), headers=events)
            assert stored.status_code == 200 and stored.json()["stored"] == 1, stored.text
            md5 = harbor_payload(repository="harbor/alpine", tag="2.0", digest="md5:abc")  # case 9
            refused = http.post(f"{served.base}/events/harbor", content=json.dumps(md5), headers=events)
            assert refused.status_code == 400 and "not a sha256 or sha512 digest" in refused.json()["error"]
            uploads = {**JSON, "Authorization": f"BEARER {VULNS_TOKEN}"}
            for path, headers in (
                ("/events/registry", events),
                ("/events/harbor", events),
                ("/vulns/reports", uploads),
            ):  # case 2: RecursionError used to be a 500 with a traceback
                deep = http.post(served.base + path, content=DEEP, headers=headers)
                assert deep.status_code == 400, (path, deep.status_code, deep.text)
                assert "nested deeper than" in deep.json()["error"]
        assert "Traceback" not in served.stderr and " 500 " not in served.stderr
    events_store, vulns_store = EventStore(state / "regent.db"), VulnStore(state / "regent.db")
    try:
        assert [(e.repository, e.digest) for e in events_store.events()] == [("harbor/alpine", HARBOR_DIGEST)]
        assert vulns_store.reports() == []
    finally:
        events_store.close()
        vulns_store.close()
