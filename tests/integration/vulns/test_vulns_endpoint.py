"""`POST /vulns/reports` over real HTTP on loopback: auth, content type, size limit, ingest, clear errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from pydantic import SecretStr

from bot.config import load_settings
from bot.web.server import HttpServer, Router
from bot.web.vulns import PATH, build_vulns_endpoint, mount_vulns_endpoint
from tests.vulns.estate import UPLOAD_TOKEN, Estate
from tools.vulns.store import VulnStore

LIMIT = 200_000


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(state: Path) -> Iterator[str]:
    """The endpoint on a free loopback port, over the estate's crawled state."""
    app = build_vulns_endpoint(token=UPLOAD_TOKEN, db_path=state / "regent.db", max_bytes=LIMIT)
    assert app is not None
    server = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    finally:
        server.shutdown()
        server.server_close()


def _post(
    url: str, body: bytes, *, token: str = UPLOAD_TOKEN, content_type: str = "application/json"
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    return httpx.post(url, content=body, headers=headers, timeout=30)


def _report_count(state: Path) -> int:
    store = VulnStore(state / "regent.db")
    try:
        return len(store.reports())
    finally:
        store.close()


def test_upload_stores_matches_and_is_idempotent(estate: Estate, state: Path, endpoint: str) -> None:
    body = (estate.reports / "worker-amd64.trivy.json").read_bytes()
    first = _post(endpoint + "?source=ci-worker", body)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert stored["status"] == "stored" and stored["unmatched"] is False
    assert stored["matched"] == ["team-x/worker:1.0.0 [linux/amd64]"]
    assert stored["source"] == "http:ci-worker" and stored["findings"] == 1
    # the same report re-formatted is the same report
    again = _post(endpoint, json.dumps(json.loads(body)).encode())
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["report_id"] == stored["report_id"]
    gone = _post(endpoint, (estate.reports / "gone-shop-api-0.9.0.trivy.json").read_bytes())
    assert gone.status_code == 201 and gone.json()["unmatched"] is True  # kept, and said to be unmatched
    assert _report_count(state) == 2


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("no token", 401, "missing or wrong bearer token"),
        ("wrong token", 401, "missing or wrong bearer token"),
        ("form body", 415, "Content-Type must be application/json, not 'application/x-www-form-urlencoded'"),
        ("too large", 413, f"the limit is {LIMIT}"),
        ("empty", 400, "empty file; expected a Trivy or Grype JSON report"),
        ("truncated", 400, "the file looks truncated"),
        ("not a report", 400, "not a Trivy (`trivy image -f json`) or Grype (`grype -o json`) report"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_and_change_nothing(
    estate: Estate, state: Path, endpoint: str, case: str, status: int, message: str
) -> None:
    good = (estate.reports / "shop-api-1.4.0.trivy.json").read_bytes()
    if case == "no token":
        response = httpx.post(endpoint, content=good, headers={"Content-Type": "application/json"})
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    elif case == "wrong token":
        response = _post(endpoint, good, token=UPLOAD_TOKEN + "x")
    elif case == "form body":
        response = _post(endpoint, good, content_type="application/x-www-form-urlencoded")
    elif case == "too large":
        response = _post(endpoint, b" " * (LIMIT + 1))
    elif case == "empty":
        response = _post(endpoint, b"")
    elif case == "truncated":
        response = _post(endpoint, good[: len(good) // 3])
    else:
        response = _post(endpoint, b'{"apiVersion": "v1", "kind": "Pod"}')
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert message in response.json()["error"]
    assert _report_count(state) == 0


def test_wrong_method_and_short_body(endpoint: str) -> None:
    response = httpx.get(endpoint)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    # a client that declares more than it sends and closes its side: 400, not a hang or a 500
    address = urlsplit(endpoint)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {UPLOAD_TOKEN}\r\n"
            'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"matches": ['.encode()
        )
        raw.shutdown(socket.SHUT_WR)
        answer = raw.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.0 400") and "body ended after 13 of 1000 bytes" in answer


def test_no_token_configured_means_no_endpoint(state: Path) -> None:
    assert build_vulns_endpoint(token=None, db_path=state / "regent.db", max_bytes=LIMIT) is None


def test_mounted_on_the_serve_router_next_to_healthz(estate: Estate, state: Path, tmp_path: Path) -> None:
    config = tmp_path / "regent.yml"
    config.write_text("vulns:\n  token_env: CI_UPLOAD_TOKEN\n  max_report_bytes: 100000\n")
    settings = load_settings(str(config), env={})
    router = Router()
    db_path = state / "regent.db"
    assert not mount_vulns_endpoint(router, settings=settings, db_path=db_path, token=None)
    assert mount_vulns_endpoint(router, settings=settings, db_path=db_path, token=SecretStr("t0k"))
    with HttpServer(router) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        body = (estate.reports / "shop-web-2.1.0.trivy.json").read_bytes()
        response = _post(server.url + PATH, body, token="t0k")
        assert response.status_code == 201 and response.json()["matched"] == ["shop/web:2.1.0"]
        too_big = _post(server.url + PATH, b"{" + b" " * 100_000 + b"}", token="t0k")
        assert too_big.status_code == 413 and "the limit is 100000" in too_big.json()["error"]
