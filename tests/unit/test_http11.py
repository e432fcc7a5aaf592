"""tools/registry/http11.py: answers framed as RFC 9112 says, malformed ones refused, requests that could be
split refused. The raw transport's behaviour against real servers is in tests/integration/
test_registry_client.py (every client test runs through it) and tests/reliability."""

from __future__ import annotations

import io

import httpx
import pytest

from tools.registry.http11 import body_chunks, read_head, request_bytes


def reader(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(data))


def answer(data: bytes, method: str = "GET") -> tuple[int, dict[str, str], bytes, bool, bytes]:
    """Status, headers, body, keep-alive, and what is left on the connection after the answer."""
    stream = reader(data)
    head = read_head(stream)
    chunks = body_chunks(stream, method, head)
    body = b"".join(chunks) if chunks is not None else b""
    return head.status, head.headers, body, head.keep_alive, stream.read()


def test_content_length_body_and_the_next_answer_stays_on_the_connection() -> None:
    status, headers, body, keep, rest = answer(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDocker-Content-Digest: sha256:ab\r\n\r\nhelloHTTP/1.1 204"
    )
    assert (status, body, keep, rest) == (200, b"hello", True, b"HTTP/1.1 204")
    assert headers["docker-content-digest"] == "sha256:ab"


def test_a_repeated_identical_length_counts_once() -> None:
    stream = reader(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok")
    head = read_head(stream)
    chunks = body_chunks(stream, "GET", head)
    assert chunks is not None and b"".join(chunks) == b"ok" and head.length == 2


def test_a_head_answer_has_no_body_whatever_its_length_says() -> None:
    status, headers, body, keep, rest = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 528\r\n\r\n", "HEAD")
    assert (status, headers["content-length"], body, keep, rest) == (200, "528", b"", True, b"")


def test_chunked_with_extensions_and_trailers() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\nnext"
    )
    _, _, body, keep, rest = answer(data)
    assert (body, keep, rest) == (b"hello!", True, b"next")


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",  # not hex
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",  # no CRLF after data
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nhello",  # ends inside a chunk
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",  # ends short of its length
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",  # two different lengths
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nbroken header line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n Folded-First: x\r\n\r\n",  # a fold with nothing to continue
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",  # headers never end
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"",  # closed without answering (a stale keep-alive connection): retried by the session
    ],
)
def test_malformed_answers_are_refused(data: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        answer(data)


def test_http_1_0_and_connection_close_end_the_connection() -> None:
    assert answer(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")[3] is False
    assert answer(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")[3] is True
    assert answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")[3] is False


def test_without_length_the_body_runs_to_the_close() -> None:
    _, _, body, keep, _ = answer(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
    assert (body, keep) == (b"all of it", False)


def test_interim_answers_repeats_and_folds() -> None:
    status, headers, body, _, _ = answer(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\nLink: <a>\r\nlink: <b>\r\n"
        b"X-Long: one\r\n two\r\nContent-Length: 0\r\n\r\n"
    )
    assert (status, headers["link"], headers["x-long"], body) == (404, "<a>, <b>", "one two", b"")


def test_a_request_head_is_exact_and_cannot_be_split() -> None:
    sent = request_bytes(
        "HEAD", "/v2/a/manifests/1.0", "r.example:5000", [("accept", "x/y"), ("user-agent", "u")]
    )
    assert sent == (
        b"HEAD /v2/a/manifests/1.0 HTTP/1.1\r\nhost: r.example:5000\r\naccept: x/y\r\nuser-agent: u\r\n\r\n"
    )
    for headers in ([("authorization", "Bearer t\r\nX-Evil: 1")], [("x\nname", "v")], [("a", "nul\0")]):
        with pytest.raises(httpx.LocalProtocolError):
            request_bytes("GET", "/v2/", "r", headers)
    with pytest.raises(httpx.LocalProtocolError):
        request_bytes("GET", "/v2/ HTTP/1.1\r\nX: y", "r", [])
