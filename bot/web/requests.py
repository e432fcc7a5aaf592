"""The checks every webhook and upload endpoint runs, and the one way they answer.

Order, cheapest first and before a byte of the body is used: method (405), credentials (401; a bearer
token compared in constant time, the scheme case-insensitive as RFC 7235 says), declared length (411
without one, 413 above the limit), media type (415), then the body is read (400 if it ends early) and
decoded with tools.json_input (400 for anything that is not plain, bounded JSON). Every refusal is a
`RequestRefused` that `serve_json` turns into a JSON `{"error": …}` answer; an unexpected exception becomes
a logged 500 with a reference, never a traceback on the wire.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from http import HTTPStatus
from typing import Any

from bot.errors import RequestRefused
from tools.errors import InvalidJson
from tools.json_input import load_json

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
JSON_TYPES = ("application/json",)
ANY_JSON_TYPES = ("application/json", "application/*+json")  # events.v1+json, cloudevents+json, …
_READ_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Reply:
    """An endpoint's answer: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


class RequestCheck:
    """Method, bearer token, length, media type, body and JSON checks for one endpoint."""

    def __init__(
        self,
        *,
        token: str,
        realm: str,
        max_bytes: int,
        usage: str,
        media_types: Sequence[str] = JSON_TYPES,
        methods: Sequence[str] = ("POST",),
    ) -> None:
        if not token:
            raise ValueError("an endpoint needs a non-empty secret or token")
        self._token = token.encode()
        self._realm = realm
        self.max_bytes = max_bytes
        self._usage = usage  # what to send, for the 405 message: "a Trivy or Grype JSON report"
        self._media_types = tuple(media_types)
        self._methods = tuple(methods)

    def read_json(self, environ: Environ, *, expected: str = "a JSON document", what: str = "body") -> Any:
        """Every check, then the decoded JSON body; RequestRefused says what to fix."""
        data = self.read_body(environ)
        try:
            return load_json(data, what=what, expected=expected)
        except InvalidJson as exc:
            raise RequestRefused(400, str(exc)) from None

    def read_body(self, environ: Environ) -> bytes:
        """Every check but the JSON decoding, then the raw body."""
        self.check_method(environ)
        self.check_token(environ)
        length = self.check_length(environ)
        self.check_media_type(environ)
        data = _read(environ["wsgi.input"], length)
        if len(data) < length:
            raise RequestRefused(400, f"body ended after {len(data)} of {length} bytes")
        return data

    def check_method(self, environ: Environ) -> None:
        """405 unless the method is one this endpoint takes."""
        if environ.get("REQUEST_METHOD") not in self._methods:
            allowed = ", ".join(self._methods)
            raise RequestRefused(405, f"use {allowed} with {self._usage}", headers=[("Allow", allowed)])

    def check_token(self, environ: Environ) -> None:
        """401 unless `Authorization: Bearer <token>` carries this endpoint's token."""
        if not bearer_matches((environ.get("HTTP_AUTHORIZATION") or "").encode(), self._token):
            challenge = ("WWW-Authenticate", f'Bearer realm="{self._realm}"')
            raise RequestRefused(401, "missing or wrong bearer token", headers=[challenge])

    def check_length(self, environ: Environ) -> int:
        """The declared Content-Length; 411 without one, 413 above the limit."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            length = -1
        if length < 0:
            raise RequestRefused(411, "send a Content-Length header")
        if length > self.max_bytes:
            raise RequestRefused(413, f"body is {length} bytes; the limit is {self.max_bytes}")
        return length

    def check_media_type(self, environ: Environ) -> None:
        """415 unless the Content-Type (parameters aside) is one this endpoint reads."""
        media_type = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        if not any(fnmatchcase(media_type, accepted) for accepted in self._media_types):
            wanted = " or ".join(self._media_types)
            raise RequestRefused(415, f"Content-Type must be {wanted}, not {media_type or 'none'!r}")


def bearer_matches(header: bytes, token: bytes) -> bool:
    """True if an Authorization header is `Bearer <token>`; the scheme is case-insensitive (RFC 7235)."""
    scheme, _, credential = header.strip().partition(b" ")
    # Compare even when the scheme is wrong, so the answer takes the same time either way.
    matches = hmac.compare_digest(credential.strip(), token)
    return matches and scheme.lower() == b"bearer"


def serve_json(
    environ: Environ, start_response: StartResponse, handle: Callable[[Environ], Reply]
) -> list[bytes]:
    """Run `handle` and answer its Reply as JSON; a refusal answers its 4xx, anything else a logged 500."""
    try:
        reply = handle(environ)
    except RequestRefused as refused:
        reply = Reply(refused.status, {"error": str(refused)}, refused.headers)
    except Exception:  # a bug must still answer: a short reference, the traceback only in the log
        reference = uuid.uuid4().hex[:8]
        log.exception("%s %s failed (reference %s)", environ.get("REQUEST_METHOD"), _path(environ), reference)
        reply = Reply(500, {"error": f"internal error (reference {reference})"})
    return respond(start_response, reply)


def respond(start_response: StartResponse, reply: Reply) -> list[bytes]:
    """Start a JSON response for `reply` and return its body."""
    body = json.dumps(reply.body).encode()
    start_response(
        f"{reply.status} {_reason(reply.status)}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *reply.headers],
    )
    return [body]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _path(environ: Environ) -> str:
    return str(environ.get("PATH_INFO") or "/")[:200]


def _read(stream: Any, length: int) -> bytes:
    """Up to `length` bytes; fewer when the client stops sending early (the caller says so)."""
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
