"""bot/web/server over real HTTP: health, unknown paths, body caps, a burst next to Slack, a quick stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bot.web.requests import Reply, StartResponse, respond
from bot.web.server import DEFAULT_MAX_BODY, HttpServer, Router


def _echo_length(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    return respond(start_response, Reply(200, {"received": len(body)}))


def _slow(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    time.sleep(0.3)  # a webhook that takes its time (a storage write, an ingest)
    return respond(start_response, Reply(200, {"ok": True}))


def test_health_unknown_paths_and_mounting() -> None:
    healthy: dict[str, Any] = {"ok": True, "mode": "http"}
    router = Router(health=lambda: {**healthy, "ok": healthy["ok"]})
    with HttpServer(router) as server:
        answer = httpx.get(f"{server.url}/healthz")
        assert (answer.status_code, answer.json()) == (200, healthy)
        healthy["ok"] = False
        assert httpx.get(f"{server.url}/healthz").status_code == 503
        healthy.clear()  # a check that raises (KeyError below) is unhealthy too, with a JSON body
        broken = httpx.get(f"{server.url}/healthz")
        assert broken.status_code == 503 and broken.json()["ok"] is False
        missing = httpx.post(f"{server.url}/nothing/here", content=b"{}")
        assert missing.status_code == 404 and "nothing is served at /nothing/here" in missing.json()["error"]
        router.mount("/echo", _echo_length)  # a mount after start is served at once
        assert httpx.post(f"{server.url}/echo", content=b"x" * 1000).json() == {"received": 1000}
        assert answer.headers["server"] == "regent"


def test_the_server_refuses_bodies_far_beyond_every_route_limit() -> None:
    router = Router()
    router.mount("/echo", _echo_length)
    with HttpServer(router) as server:
        fits = httpx.post(f"{server.url}/echo", content=b"x" * DEFAULT_MAX_BODY)
        assert fits.json() == {"received": DEFAULT_MAX_BODY}
        # Twice the largest route limit is never buffered: refused while it arrives, not after.
        huge = httpx.post(f"{server.url}/echo", content=b"x" * (2 * DEFAULT_MAX_BODY + 1))
        assert huge.status_code == 413
        router.mount("/big", _echo_length, max_body_bytes=3 * DEFAULT_MAX_BODY)
        assert httpx.post(f"{server.url}/big", content=b"x" * (3 * DEFAULT_MAX_BODY)).status_code == 200


def test_a_burst_of_50_slow_posts_leaves_slack_acked_within_3_seconds() -> None:
    router = Router()
    router.mount("/events/registry", _slow)
    router.mount("/slack/events", _echo_length)
    acks: list[float] = []
    with HttpServer(router) as server, httpx.Client(timeout=30) as client, ThreadPoolExecutor(50) as pool:
        burst = [pool.submit(client.post, f"{server.url}/events/registry", content=b"{}") for _ in range(50)]
        time.sleep(0.1)  # the burst is in flight
        for _ in range(3):
            started = time.monotonic()
            assert httpx.post(f"{server.url}/slack/events", content=b"{}", timeout=10).status_code == 200
            acks.append(time.monotonic() - started)
        assert [f.result().status_code for f in burst] == [200] * 50
    assert max(acks) < 3.0, acks


def test_stop_finishes_running_requests_and_returns_quickly() -> None:
    started = threading.Event()

    def slow(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started.set()
        return _slow(environ, start_response)

    router = Router()
    router.mount("/slow", slow)
    server = HttpServer(router)
    server.start()
    idle = httpx.Client()
    idle.get(f"{server.url}/healthz")  # a kept-alive connection the server must close itself
    answers: list[int] = []
    busy = threading.Thread(
        target=lambda: answers.append(httpx.post(f"{server.url}/slow", content=b"", timeout=10).status_code)
    )
    busy.start()
    assert started.wait(5)
    begun = time.monotonic()
    server.stop()
    assert time.monotonic() - begun < 2.0
    busy.join(timeout=5)
    assert answers == [200]  # the request that was running was answered, not cut off
    idle.close()
    try:
        httpx.get(f"{server.url}/healthz", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("still serving after stop()")


def test_stop_without_start_releases_the_port() -> None:
    server = HttpServer(Router())
    port = server.port
    server.stop()
    again = HttpServer(Router(), port=port)  # the port is free again
    again.stop()
