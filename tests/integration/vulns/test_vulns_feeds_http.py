"""KEV and EPSS from http(s) URLs through the real client, against a local HTTP server."""

from __future__ import annotations

import functools
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.vulns.estate import EPSS_CSV, KEV, regent


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[str]:
    """A static file server on loopback serving kev.json and epss.csv.gz."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "kev.json").write_text(json.dumps(KEV))
    (root / "epss.csv.gz").write_bytes(gzip.compress(EPSS_CSV.encode()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_feeds_from_urls_show_their_age_and_a_failure_keeps_the_old_data(
    feed_server: str, tmp_path: Path
) -> None:
    config = tmp_path / "regent.yml"
    config.write_text(f"vulns:\n  kev: {feed_server}/kev.json\n  epss: {feed_server}/epss.csv.gz\n")
    state = tmp_path / "state"
    done = regent("vulns", "feeds", "--json", state=state, config=config)
    assert done.returncode == 0, done.stderr
    feeds = {f["name"]: f for f in json.loads(done.stdout)["feeds"]}
    assert (feeds["kev"]["entries"], feeds["kev"]["released"]) == (2, "2026-11-25T15:02:11Z")
    assert (feeds["epss"]["entries"], feeds["epss"]["released"]) == (4, "2026-11-26T00:00:00Z")
    assert feeds["epss"]["source"] == f"{feed_server}/epss.csv.gz" and feeds["epss"]["age_days"] >= 0
    text = regent("vulns", "feeds", state=state, config=config)
    assert "epss  4 entries, dated 2026-11-26" in text.stdout and "days old" in text.stdout

    missing = regent("vulns", "feeds", "--epss", f"{feed_server}/gone.csv", state=state, config=config)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert f"GET {feed_server}/gone.csv answered 404" in missing.stderr
    after = regent(
        "vulns",
        "feeds",
        "--json",
        "--kev",
        f"{feed_server}/kev.json",
        state=state,
        config=tmp_path / "none.yml",
    )
    assert (
        after.returncode == 2
    )  # an explicit config file that does not exist is an error, not an empty config
    kept = regent("vulns", "report", "--json", state=state, config=config)
    epss = next(f for f in json.loads(kept.stdout)["feeds"] if f["name"] == "epss")
    assert (epss["entries"], epss["source"]) == (
        4,
        f"{feed_server}/epss.csv.gz",
    )  # the failed fetch changed nothing


def test_only_http_urls(tmp_path: Path) -> None:
    config = tmp_path / "regent.yml"
    config.write_text("vulns:\n  kev: ftp://feeds.example/kev.json\n")
    done = regent("vulns", "feeds", state=tmp_path / "state", config=config)
    assert done.returncode == 2 and "a feed is a file path or an http(s) URL" in done.stderr
