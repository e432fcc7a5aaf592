"""The crawl's hot path to a registry: HTTP/1.1 on plain sockets (tools/registry/http11.py), one keep-alive
connection per thread and origin, answers read straight into the client's `Answer`.

Why not httpx here: on a crawl (16 threads, 2 cores) a request through httpx cost ~0.45 ms of CPU, the
registry client's whole budget. About a third of httpx's share is its models (URL parsing and validation,
Headers, Request, Response, streams), a third its transport (httpcore's pool, which re-scans every
connection under one lock twice per request, and h11, which parses and validates each header in Python).
http.client was next, at ~0.17 ms, most of it its header parsing (the email package); http11.py does the
same exchange for a tenth of that. httpx still sends everything else (token requests, redirects to blob
storage, requests through a proxy from the environment) and is what callers configure.

Errors are raised as httpx's transport exceptions, so the client translates both paths in one place.
"""

from __future__ import annotations

import io
import select
import socket
import ssl
import threading
import weakref
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from tools.registry.http11 import body_chunks, connect, read_head, request_bytes
from tools.registry.wire import Answer, read_capped_chunks

Origin = tuple[str, str, int]  # scheme, host, port
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds to connect, and to wait for each read, as httpx.Timeout names them."""

    connect: float | None
    read: float | None


@dataclass(slots=True)
class _Connection:
    sock: socket.socket
    reader: io.BufferedReader

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class _ThreadConnections:
    """One thread's open connections by origin."""

    def __init__(self) -> None:
        self.by_origin: dict[Origin, _Connection] = {}


def _close_all(by_origin: dict[Origin, _Connection]) -> None:
    for connection in list(by_origin.values()):
        connection.close()
    by_origin.clear()


class RawTransport:
    """Sends registry requests over per-thread keep-alive connections; safe to share between threads."""

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
        request: bytes,
        *,
        max_bytes: int,
        deadline: float,
        what: str,
    ) -> Answer:
        """Send one request head (no body) and read its answer, refused past max_bytes or the deadline."""
        by_origin = self._thread_connections().by_origin
        connection = by_origin.pop(origin, None)
        if connection is not None and _closed_by_peer(connection.sock):
            connection.close()  # the server closed this idle keep-alive connection: open a new one
            connection = None
        if connection is None:
            connection = self._connect(origin)
        try:
            with _as_httpx_errors(connecting=False):
                connection.sock.sendall(request)
                head = read_head(connection.reader)
                chunks = body_chunks(connection.reader, method, head)
                body = b""
                if chunks is not None:
                    body = read_capped_chunks(
                        decode_body(chunks, head.headers.get("content-encoding", "")),
                        declared="" if head.length is None else str(head.length),
                        method=method,
                        max_bytes=max_bytes,
                        what=what,
                        deadline=deadline,
                    )
        except BaseException:
            connection.close()  # half a request or half an answer: this connection is done
            raise
        if head.keep_alive:
            by_origin[origin] = connection
        else:
            connection.close()
        return Answer(method, head.status, head.headers, body)

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

    def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        with _as_httpx_errors(connecting=True):
            sock, reader = connect(
                scheme, host, port, timeout=self._timeouts.connect, ssl_context=self._ssl_context
            )
            sock.settimeout(self._timeouts.read)
        return _Connection(sock, reader)


class RawRoute:
    """Requests to one base URL: its origin, path prefix and standing headers, worked out once."""

    def __init__(self, transport: RawTransport, base_url: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(base_url)
        self._transport = transport
        self._origin = (parts.scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS[parts.scheme])
        self._prefix = parts.path.rstrip("/")
        self._host = parts.netloc.rpartition("@")[2]
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
            request_bytes(method, target, self._host, list(merged.items())),
            max_bytes=max_bytes,
            deadline=deadline,
            what=f"{method} {self._host}{path}",
        )


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
    """Socket errors as httpx's, which the client turns into Unreachable (and retries)."""
    try:
        yield
    except httpx.HTTPError:
        raise
    except TimeoutError as exc:
        raise (httpx.ConnectTimeout if connecting else httpx.ReadTimeout)(str(exc) or "timed out") from None
    except OSError as exc:
        raise (httpx.ConnectError if connecting else httpx.ReadError)(str(exc)[:200]) from None
    except ValueError as exc:
        raise httpx.RemoteProtocolError(str(exc)[:200]) from None


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when an idle keep-alive socket is readable: the server closed it (or sent stray bytes)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
