"""Pure helpers of the registry client: challenges, basic auth, scopes, Retry-After, Link pagination."""

from __future__ import annotations

import base64
import gzip
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tools.registry.auth import basic_authorization, parse_challenge, scope_for
from tools.registry.retry import parse_retry_after
from tools.registry.transport import decode_body
from tools.registry.wire import next_link_query


def test_parse_bearer_challenge() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"')
    assert c is not None
    assert (c.scheme, c.realm, c.service, c.scope) == (
        "bearer",
        "https://auth.example/token",
        "reg",
        "repository:a/b:pull",
    )


def test_parse_basic_and_unknown_challenges() -> None:
    basic = parse_challenge('Basic realm="test-realm"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("Negotiate abc") is None
    assert parse_challenge("") is None


def test_scope_for_paths() -> None:
    assert scope_for("/v2/_catalog", "GET") == "registry:catalog:*"
    assert scope_for("/v2/team/app/manifests/v1", "HEAD") == "repository:team/app:pull"
    assert scope_for("/v2/team/app/manifests/sha256:ab", "DELETE") == "repository:team/app:delete"
    assert scope_for("/v2/team/app/tags/list", "GET") == "repository:team/app:pull"
    assert scope_for("/v2/", "GET") == ""


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    value = parse_retry_after(later)
    assert value is not None and 25 <= value <= 31


def testnext_link_query() -> None:
    link = '</v2/_catalog?last=demo%2Fb&n=2>; rel="next"'
    assert next_link_query(link) == {"last": "demo/b", "n": "2"}
    assert next_link_query("") is None
    assert next_link_query('</v2/_catalog?last=x>; rel="prev"') is None


def test_basic_authorization_is_rfc_7617() -> None:
    assert basic_authorization("alice", "s3cret") == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    # UTF-8 for non-ASCII, and a colon in the password stays in the password
    assert base64.b64decode(basic_authorization("bö", "p:w").split()[1]) == "bö:p:w".encode()


def test_a_compressed_body_is_decoded_and_a_broken_one_refused() -> None:
    body = b'{"schemaVersion": 2}' * 100
    assert b"".join(decode_body(iter([gzip.compress(body)]), "gzip")) == body
    assert b"".join(decode_body(iter([zlib.compress(body)]), "Deflate")) == body
    assert b"".join(decode_body(iter([body[:7], body[7:]]), "")) == body
    with pytest.raises(httpx.DecodingError):
        b"".join(decode_body(iter([b"not gzip"]), "gzip"))
    with pytest.raises(httpx.DecodingError):
        b"".join(decode_body(iter([body]), "br"))
