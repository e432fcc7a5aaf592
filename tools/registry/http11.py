"""HTTP/1.1 on one socket for the crawl's hot path: a request without a body out, an answer's status line,
headers and framed body in (RFC 9112). Only what registry requests need: no request bodies, no upgrades.

Why not http.client: its request checks and its header parsing (the email package) cost ~0.15 ms of CPU per
request, as much as the rest of the registry client; reading lines from a buffered socket file and
splitting them costs a tenth of that. Malformed answers are refused, never guessed at, and raised as
httpx's transport errors, which the registry session translates (and retries) like httpx's own.
"""

from __future__ import annotations

import io
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

MAX_LINE = 64 * 1024  # one status, header or chunk-size line
MAX_HEADERS = 200
_READ_CHUNK = 64 * 1024
_NO_BODY = frozenset({204, 304})
_SPLITS_LINE = re.compile(r"[\r\n\0]")
_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(slots=True)
class Head:
    """An answer's status and headers (lower-case names, repeats joined with ", "), whether the connection
    may carry another request once the body is read, and the body's length when its framing says it."""

    status: int
    headers: dict[str, str]
    keep_alive: bool
    length: int | None = None


def request_bytes(method: str, target: str, host: str, headers: list[tuple[str, str]]) -> bytes:
    """The request head; a target, header name or value that could split it (CR, LF, NUL) is refused,
    as http.client refuses it (a hostile token service could hand out such a token)."""
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if " " in target or any(_SPLITS_LINE.search(line) for line in lines):
        raise httpx.LocalProtocolError("a request target or header holds a line break")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise httpx.LocalProtocolError("a request header is not Latin-1") from None


def read_head(reader: io.BufferedReader) -> Head:
    """Status line and headers, past any 1xx interim answers."""
    while True:
        line = reader.readline(MAX_LINE)
        if not line:
            raise httpx.RemoteProtocolError("the server closed the connection without answering")
        version, _, rest = line.partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
        status = int(code)
        headers = _read_headers(reader)
        if status >= 200 or status == 101:
            break
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (version != b"HTTP/1.0" or "keep-alive" in connection)
    return Head(status, headers, keep_alive)


def _read_headers(reader: io.BufferedReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = ""
    for _ in range(MAX_HEADERS + 1):
        line = reader.readline(MAX_LINE)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n"):
            raise httpx.RemoteProtocolError("the answer's headers ended early or a line is too long")
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and last:  # obsolete line folding: part of the previous value
            headers[last] = f"{headers[last]} {text.strip()}"
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise httpx.RemoteProtocolError(f"malformed header line: {text[:80]!r}")
        last = name.lower()
        value = value.strip()
        headers[last] = f"{headers[last]}, {value}" if last in headers else value
    raise httpx.RemoteProtocolError(f"over {MAX_HEADERS} header lines")


def body_chunks(reader: io.BufferedReader, method: str, head: Head) -> Iterator[bytes] | None:
    """The body's raw chunks as they arrive (framed as RFC 9112 §6.3 says), or None when it has none.
    Reading to the end of the connection makes it unusable afterwards (`head.keep_alive` turns False)."""
    if method == "HEAD" or head.status in _NO_BODY or head.status < 200:
        return None
    coding = head.headers.get("transfer-encoding", "").lower()
    if coding:
        if coding.rsplit(",", 1)[-1].strip() != "chunked":
            head.keep_alive = False
            return _until_close(reader)
        return _chunked(reader)
    declared = head.headers.get("content-length")
    if declared is None:
        head.keep_alive = False
        return _until_close(reader)
    head.length = content_length(declared)
    return _sized(reader, head.length)


def content_length(declared: str) -> int:
    """A Content-Length value; the same length repeated counts once (RFC 9112 §6.3 allows that), differing
    or negative ones mean the framing cannot be trusted."""
    values = {value.strip() for value in declared.split(",")}
    (value,) = values if len(values) == 1 else ("",)
    if not value.isdigit():
        raise httpx.RemoteProtocolError(f"bad Content-Length {declared[:40]!r}")
    return int(value)


def _sized(reader: io.BufferedReader, length: int) -> Iterator[bytes]:
    received = 0
    while received < length:
        chunk = reader.read1(min(length - received, _READ_CHUNK))
        if not chunk:
            raise httpx.RemoteProtocolError(f"the body ended after {received} of {length} bytes")
        received += len(chunk)
        yield chunk


def _chunked(reader: io.BufferedReader) -> Iterator[bytes]:
    while True:
        line = reader.readline(MAX_LINE)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not size_text or not _HEX.issuperset(size_text):
            raise httpx.RemoteProtocolError(f"bad chunk size line {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            _read_headers(reader)  # the trailer section, up to its blank line
            return
        yield from _sized(reader, size)
        if reader.readline(MAX_LINE) not in (b"\r\n", b"\n"):
            raise httpx.RemoteProtocolError("a chunk does not end with a line break")


def _until_close(reader: io.BufferedReader) -> Iterator[bytes]:
    while chunk := reader.read1(_READ_CHUNK):
        yield chunk


def connect(
    scheme: str, host: str, port: int, *, timeout: float | None, ssl_context: ssl.SSLContext
) -> tuple[socket.socket, io.BufferedReader]:
    """A connected (TLS-wrapped for https) socket with no Nagle delay, and its buffered reader."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise
    return sock, sock.makefile("rb")
