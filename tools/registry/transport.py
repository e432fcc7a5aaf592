"""The crawl's hot path to a registry: HTTP/1.1 over the standard library's http.client, one keep-alive
connection per thread and origin, answers read straight into the client's `Answer`.

Why not httpx here: on a crawl (16 threads, 2 cores) a request through httpx cost ~0.45 ms of CPU, the
registry client's whole budget; the same exchange on http.client costs ~0.17 ms. About a third of httpx's
share is its models (URL parsing and validation, Headers, Request, Response, streams), a third its
transport (httpcore's pool, which re-scans every connection under one lock twice per request, and h11,
which parses and validates each header in Python). httpx still sends everything else (token requests,
redirects to blob storage, requests through a proxy from the environment) and is what callers configure.

Errors are raised as httpx's transport exceptions, so the client translates both paths in one place.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import weakref
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from tools.registry.wire import Answer, read_capped_chunks

Origin = tuple[str, str, int]  # scheme, host, port
_READ_CHUNK = 64 * 1024
_NO_BODY = frozenset({204, 304})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to connect, and to wait for each read, as httpx.Timeout names them."""

    connect: float | None
    read: float | None


class _ThreadConnections:
    """One thread's open connections by origin."""

    def __init__(self) -> None:
        self.by_origin: dict[Origin, http.client.HTTPConnection] = {}


def _close_all(by_origin: dict[Origin, http.client.HTTPConnection]) -> None:
    for connection in list(by_origin.values()):
        connection.close()
    by_origin.clear()


class RawTransport:
    """Sends registry requests over per-thread http.client connections; safe to share between threads."""

    def __init__(self, *, ssl_context: ssl.SSLContext, timeouts: Timeouts) -> None:
        self._ssl_context = ssl_context
        self._timeouts = timeouts
        self._local = threading.local()
        self._every: weakref.WeakSet[_ThreadConnections] = weakref.WeakSet()
        self._lock = threading.Lock()

    def exchange(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: list[tuple[str, str]],
        *,
        max_bytes: int,
        deadline: float,
        what: str,
    ) -> Answer:
        """Send one request (no body) and read its answer, refused past max_bytes or the deadline."""
        connections = self._thread_connections()
        connection = connections.by_origin.get(origin)
        if connection is None:
            connection = self._new_connection(origin)
            connections.by_origin[origin] = connection
        if connection.sock is not None and _closed_by_peer(connection):
            connection.close()  # the server closed this idle keep-alive connection: open a new one
        response = self._send(connection, method, target, headers)
        answer_headers: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            answer_headers[key] = f"{answer_headers[key]}, {value}" if key in answer_headers else value
        declared = answer_headers.get("content-length", "")
        body = b""
        try:
            with _as_httpx_errors(connecting=False):
                if method == "HEAD" or response.status in _NO_BODY or response.status < 200:
                    response.read()  # nothing to read, but only read() marks such an answer complete
                else:
                    expected = int(declared) if declared.isdigit() else None
                    body = read_capped_chunks(
                        decode_body(_chunks(response, expected), answer_headers.get("content-encoding", "")),
                        declared=declared,
                        method=method,
                        max_bytes=max_bytes,
                        what=what,
                        deadline=deadline,
                    )
        finally:
            if not response.isclosed():  # not read to the end: the connection cannot carry another request
                response.close()
                connection.close()
        return Answer(method, response.status, answer_headers, body)

    def route(self, base_url: str, headers: Mapping[str, str]) -> RawRoute:
        """Requests under base_url (a registry, or Portainer's proxy of one) with these headers on each."""
        return RawRoute(self, base_url, headers)

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            every = list(self._every)
            self._every.clear()
        for connections in every:
            _close_all(connections.by_origin)

    def _thread_connections(self) -> _ThreadConnections:
        connections: _ThreadConnections | None = getattr(self._local, "connections", None)
        if connections is None:
            connections = _ThreadConnections()
            # A crawl's threads end with the crawl: their sockets are closed then, not at exit.
            weakref.finalize(connections, _close_all, connections.by_origin)
            self._local.connections = connections
            with self._lock:
                self._every.add(connections)
        return connections

    def _new_connection(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        timeout = self._timeouts.connect
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl_context)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _send(
        self, connection: http.client.HTTPConnection, method: str, target: str, headers: list[tuple[str, str]]
    ) -> http.client.HTTPResponse:
        try:
            if connection.sock is None:
                with _as_httpx_errors(connecting=True):
                    connection.connect()
            with _as_httpx_errors(connecting=False):
                connection.sock.settimeout(self._timeouts.read)
                connection.putrequest(method, target, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.endheaders()
                return connection.getresponse()
        except BaseException:
            connection.close()  # half a request or half an answer: this connection is done
            raise


class RawRoute:
    """Requests to one base URL: its origin, path prefix and standing headers, worked out once."""

    def __init__(self, transport: RawTransport, base_url: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(base_url)
        self._transport = transport
        self._origin = (parts.scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS[parts.scheme])
        self._prefix = parts.path.rstrip("/")
        self._host = parts.netloc
        # What httpx would send (the client's headers, then the caller's), but no compression to undo.
        self._headers = {name.lower(): value for name, value in headers.items()}
        self._headers["accept-encoding"] = "identity"

    def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        *,
        max_bytes: int,
        deadline: float,
    ) -> Answer:
        """One request to base_url + path (params encoded as httpx would), with these extra headers."""
        merged = dict(self._headers)
        merged.update((name.lower(), value) for name, value in headers.items())
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
        target = f"{self._prefix}{path}?{query}" if query else self._prefix + path
        return self._transport.exchange(
            method,
            self._origin,
            target,
            list(merged.items()),
            max_bytes=max_bytes,
            deadline=deadline,
            what=f"{method} {self._host}{path}",
        )


def _chunks(response: http.client.HTTPResponse, expected: int | None) -> Iterator[bytes]:
    """The raw body as it arrives (read1, so that a trickle reaches the deadline check), refused when it
    ends short of its Content-Length (http.client's own read accepts that silently)."""
    received = 0
    while chunk := response.read1(_READ_CHUNK):
        received += len(chunk)
        yield chunk
    if expected is not None and received < expected:
        raise httpx.RemoteProtocolError(f"the body ended after {received} of {expected} bytes")
    response.read()  # nothing is left, but only read() (not read1) marks the answer done: keep-alive


def decode_body(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """The body without its Content-Encoding; we ask for identity, but a proxy may compress anyway."""
    encoding = encoding.strip().lower()
    if encoding in {"", "identity"}:
        yield from chunks
        return
    if encoding not in {"gzip", "x-gzip", "deflate"}:
        raise httpx.DecodingError(f"unsupported Content-Encoding {encoding[:40]!r}")
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by header
    try:
        for chunk in chunks:
            yield decoder.decompress(chunk)
        yield decoder.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(f"bad {encoding} body: {exc}") from None


@contextmanager
def _as_httpx_errors(*, connecting: bool) -> Iterator[None]:
    """Socket and http.client errors as httpx's, which the client turns into Unreachable (and retries)."""
    try:
        yield
    except httpx.HTTPError:
        raise
    except TimeoutError as exc:
        raise (httpx.ConnectTimeout if connecting else httpx.ReadTimeout)(str(exc) or "timed out") from None
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    except OSError as exc:
        raise (httpx.ConnectError if connecting else httpx.ReadError)(str(exc)[:200]) from None
    except ValueError as exc:  # http.client refuses a header with a line break (say, in a hostile token)
        raise httpx.LocalProtocolError(str(exc)[:200]) from None


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """True when an idle keep-alive socket is readable: the server closed it (or sent stray bytes)."""
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))
