"""bot/web/requests: the one request check both endpoints use, on plain WSGI environs."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from bot.errors import RequestRefused
from bot.web.requests import ANY_JSON_TYPES, Reply, RequestCheck, bearer_matches, serve_json

TOKEN = "t0ken"


def environ(
    body: bytes = b"{}",
    *,
    method: str = "POST",
    auth: str | None = f"Bearer {TOKEN}",
    content_type: str = "application/json",
    length: str | None = None,
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": content_type,
        "wsgi.input": io.BytesIO(body),
    }
    env["CONTENT_LENGTH"] = str(len(body)) if length is None else length
    if auth is not None:
        env["HTTP_AUTHORIZATION"] = auth
    return env


CHECK = RequestCheck(token=TOKEN, realm="test", max_bytes=100, usage="a test document")


def refusal(env: dict[str, Any], check: RequestCheck = CHECK) -> RequestRefused:
    with pytest.raises(RequestRefused) as caught:
        check.read_json(env)
    return caught.value


@pytest.mark.parametrize(
    ("env", "status", "message"),
    [
        (environ(method="GET"), 405, "use POST with a test document"),
        (environ(auth=None), 401, "missing or wrong bearer token"),
        (environ(auth=f"Basic {TOKEN}"), 401, "missing or wrong bearer token"),
        (environ(auth=TOKEN), 401, "missing or wrong bearer token"),
        (environ(auth=f"Bearer {TOKEN}x"), 401, "missing or wrong bearer token"),
        (environ(auth="Bearer"), 401, "missing or wrong bearer token"),
        (environ(length=""), 411, "send a Content-Length header"),
        (environ(length="-5"), 411, "send a Content-Length header"),
        (environ(length="12abc"), 411, "send a Content-Length header"),
        (environ(b"[" + b" " * 200 + b"]"), 413, "body is 202 bytes; the limit is 100"),
        (environ(content_type="text/plain"), 415, "Content-Type must be application/json, not 'text/plain'"),
        (environ(content_type=""), 415, "not 'none'"),
        (environ(b'{"a": 1}', length="50"), 400, "body ended after 8 of 50 bytes"),
        (environ(b"[" * 60 + b"]" * 30), 400, "not valid JSON"),
        (environ(b'{"a": NaN}'), 400, "NaN is not a JSON number"),
    ],
)
def test_each_check_refuses_with_its_status_and_a_clear_message(
    env: dict[str, Any], status: int, message: str
) -> None:
    refused = refusal(env)
    assert refused.status == status
    assert message in str(refused)


def test_checks_run_cheapest_first() -> None:
    # Wrong method, no token, no length, wrong type and bad JSON all at once: the method answers.
    assert refusal(environ(b"x", method="PUT", auth=None, content_type="text/plain", length="")).status == 405
    assert refusal(environ(b"x", auth=None, content_type="text/plain", length="")).status == 401
    assert refusal(environ(b"x", content_type="text/plain", length="")).status == 411


def test_the_challenge_and_allow_headers() -> None:
    assert dict(refusal(environ(auth=None)).headers) == {"WWW-Authenticate": 'Bearer realm="test"'}
    assert dict(refusal(environ(method="GET")).headers) == {"Allow": "POST"}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(scheme: str) -> None:
    assert CHECK.read_json(environ(b'{"ok": true}', auth=f"{scheme} {TOKEN}")) == {"ok": True}
    assert CHECK.read_json(environ(b"[1]", auth=f"  {scheme}   {TOKEN}  ")) == [1]


def test_bearer_matches_is_the_one_credential_check() -> None:
    # bot/mcp's ASGI middleware uses it on raw header bytes too.
    assert bearer_matches(b"Bearer t0ken", b"t0ken") and bearer_matches(b"bearer  t0ken ", b"t0ken")
    for header in (b"", b"Bearer", b"t0ken", b"Basic t0ken", b"Bearer t0ken2", b"Bearer t0k", b"Bearert0ken"):
        assert not bearer_matches(header, b"t0ken"), header


def test_json_media_types_with_parameters_and_suffixes() -> None:
    check = RequestCheck(token=TOKEN, realm="r", max_bytes=100, usage="u", media_types=ANY_JSON_TYPES)
    for media_type in (
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.docker.distribution.events.v1+json",
        "application/cloudevents+json",
    ):
        assert check.read_json(environ(content_type=media_type)) == {}
    refused = refusal(environ(content_type="application/xml"), check)
    assert refused.status == 415 and "application/json or application/*+json" in str(refused)


def test_an_empty_token_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        RequestCheck(token="", realm="r", max_bytes=1, usage="u")


def _call(handle: Any) -> tuple[str, dict[str, str], Any]:
    seen: list[Any] = []
    body = serve_json(environ(), lambda status, headers: seen.extend([status, dict(headers)]), handle)
    return seen[0], seen[1], json.loads(b"".join(body))


def test_serve_json_answers_replies_refusals_and_bugs_as_json() -> None:
    status, headers, body = _call(lambda env: Reply(201, {"stored": 1}, (("X-Test", "1"),)))
    assert (status, body, headers["X-Test"]) == ("201 Created", {"stored": 1}, "1")
    assert headers["Content-Type"] == "application/json"
    status, _, body = _call(lambda env: CHECK.read_json({**env, "REQUEST_METHOD": "DELETE"}))
    assert status == "405 Method Not Allowed" and body == {"error": "use POST with a test document"}

    def broken(env: dict[str, Any]) -> Reply:
        raise KeyError("a bug")

    status, _, body = _call(broken)
    assert status == "500 Internal Server Error" and body["error"].startswith("internal error (reference ")
    assert "KeyError" not in body["error"]
