"""An HTTP proxy on loopback that forwards to a real server and injects faults on a deterministic schedule.

Faults are queued: `inject(*faults)` gives them to the next requests in order, `inject(..., method=,
path=)` only to requests with that method and path prefix (`skip=n` lets n such requests through first),
and `always(fault, ...)` to every matching request until `clear()`. Targeted rules are consulted first,
oldest first; a request with no fault left is forwarded unchanged. No randomness anywhere.

Kinds:
- ("status", code[, headers]): answer without forwarding (e.g. 503, or 429 with {"Retry-After": "1"});
- ("reset",): close the connection without an answer (the request is not forwarded);
- ("tamper",): forward, then flip a bit of the first body byte;
- ("delay", seconds): wait, then forward (latency);
- ("truncate", n): forward, send the full Content-Length but only the first n body bytes, then close;
- ("trickle", chunk, interval): forward, then send the body `chunk` bytes every `interval` seconds;
- ("hold",): block until `release()`, then forward (or drop, with `release(forward=False)`); a test
  waits for `held` to reach a count to know a client is blocked mid-request (e.g. before a SIGKILL).
Every request is counted by method (`seen`) and logged as (method, path, fault kind) in `log`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.http_server import BackgroundServer, QuietHandler

Fault = tuple[Any, ...]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class _Rule:
    method: str | None
    path: str
    faults: deque[Fault] = field(default_factory=deque)
    skip: int = 0
    forever: Fault | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path)

    def take(self) -> tuple[bool, Fault | None]:
        """(whether this rule decided, the fault); a rule with nothing left does not decide."""
        if self.skip > 0:
            self.skip -= 1
            return True, None
        if self.faults:
            return True, self.faults.popleft()
        return (True, self.forever) if self.forever is not None else (False, None)


class FaultProxy(BackgroundServer):
    """Forward every request to `target`, applying scheduled faults first."""

    def __init__(self, target: str, *, upstream_timeout: float = 30.0) -> None:
        self.target = target.rstrip("/")
        self.faults: deque[Fault] = deque()  # untargeted queue (the next requests, whatever they are)
        self.rules: list[_Rule] = []
        self.seen: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []
        self.held = 0  # requests currently blocked by ("hold",)
        self.finished = 0  # requests fully handled (answered, forwarded or dropped)
        self.cond = threading.Condition()
        self._release = threading.Event()
        self._forward_held = True
        self.upstream = httpx.Client(timeout=upstream_timeout)
        super().__init__(_ProxyHandler)
        self._server.socket.listen(64)

    def inject(self, *faults: Fault, method: str | None = None, path: str = "", skip: int = 0) -> None:
        """Queue faults for the next matching requests, in order (untargeted: the next requests)."""
        with self.cond:
            if method is None and not path and not skip:
                self.faults.extend(faults)
            else:
                self.rules.append(_Rule(method, path, deque(faults), skip))

    def always(self, fault: Fault, *, method: str | None = None, path: str = "") -> None:
        """Apply `fault` to every matching request until clear()."""
        with self.cond:
            self.rules.append(_Rule(method, path, forever=fault))

    def clear(self) -> None:
        """Drop every scheduled fault (requests already held stay held until release())."""
        with self.cond:
            self.faults.clear()
            self.rules.clear()

    def release(self, *, forward: bool = True) -> None:
        """Let held requests go on: forwarded upstream, or dropped (connection closed, nothing sent)."""
        self._forward_held = forward
        self._release.set()

    def wait_until(self, predicate: Callable[[FaultProxy], bool], *, timeout: float = 20.0) -> None:
        """Block until predicate(proxy) holds (checked at every request event); AssertionError on timeout."""
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self), timeout=timeout):
                raise AssertionError(f"proxy condition not met within {timeout} s; log tail {self.log[-5:]}")

    def count(self, method: str, path: str = "") -> int:
        """Requests seen with this method and path prefix."""
        with self.cond:
            return sum(1 for m, p, _ in self.log if m == method and p.startswith(path))

    def next_fault(self, method: str, path: str) -> Fault | None:
        """Count a request and take its fault, if one is scheduled."""
        with self.cond:
            self.seen[method] += 1
            fault: Fault | None = None
            for rule in self.rules:
                if rule.matches(method, path):
                    decided, fault = rule.take()
                    if decided:
                        break
            else:
                fault = self.faults.popleft() if self.faults else None
            self.log.append((method, path, fault[0] if fault else "-"))
            self.cond.notify_all()
            return fault

    def _hold(self) -> bool:
        with self.cond:
            self.held += 1
            self.cond.notify_all()
        self._release.wait(timeout=120)
        with self.cond:
            self.held -= 1
            self.cond.notify_all()
        return self._forward_held

    def _done(self) -> None:
        with self.cond:
            self.finished += 1
            self.cond.notify_all()


class _ProxyHandler(QuietHandler):
    def _proxy(self) -> None:
        proxy: FaultProxy = self.server.owner  # type: ignore[attr-defined]
        try:
            self._handle(proxy)
        except OSError:  # the client went away (killed, timed out): nothing to answer
            self.close_connection = True
        finally:
            proxy._done()

    def _handle(self, proxy: FaultProxy) -> None:
        fault = proxy.next_fault(self.command, self.path)
        kind = fault[0] if fault else None
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else None
        if kind == "reset" or (kind == "hold" and not proxy._hold()):
            self._abort()
            return
        if kind == "status":
            assert fault is not None
            headers = dict(fault[2]) if len(fault) > 2 else {}
            self.send_body(fault[1], b'{"errors":[{"code":"INJECTED"}]}', headers)
            return
        if kind == "delay":
            assert fault is not None
            time.sleep(float(fault[1]))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = proxy.upstream.request(
            self.command, proxy.target + self.path, headers=headers, content=body
        )
        content = upstream.content
        if kind == "tamper" and content:
            content = bytes([content[0] ^ 1]) + content[1:]
        out = {
            k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-encoding"}
        }
        self.send_response(upstream.status_code)
        for name, value in out.items():
            self.send_header(name, value)
        self.send_header(
            "Content-Length",
            upstream.headers.get("content-length", str(len(content)))
            if self.command == "HEAD"
            else str(len(content)),
        )
        self.end_headers()
        if self.command == "HEAD":
            return
        if kind == "truncate":
            assert fault is not None
            self.wfile.write(content[: int(fault[1])])
            self.wfile.flush()
            self._abort()
        elif kind == "trickle":
            assert fault is not None
            chunk, interval = int(fault[1]), float(fault[2])
            for start in range(0, len(content), chunk):
                self.wfile.write(content[start : start + chunk])
                self.wfile.flush()
                time.sleep(interval)
        else:
            self.wfile.write(content)

    def _abort(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()

    do_GET = do_HEAD = do_DELETE = do_PUT = do_POST = do_PATCH = _proxy
