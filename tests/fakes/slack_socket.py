"""A local Socket Mode server: Slack's side of the websocket. Sends envelopes, collects the app's acks.

Point the fake Web API's `apps.connections.open` at `server.url`; the app's SocketModeHandler dials it,
gets `{"type": "hello"}`, then whatever `send(...)` pushes. Acks (`{"envelope_id", "payload"?}`) are kept.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from types import TracebackType
from typing import Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class FakeSocketMode:
    """Websocket server on 127.0.0.1:0; one app connection at a time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._conn: ServerConnection | None = None
        self._ids = itertools.count(1)
        self.acks: dict[str, tuple[float, dict[str, Any]]] = {}  # envelope id -> (arrival, ack body)
        self.sent_at: dict[str, float] = {}
        self._server: Server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The ws:// URL to hand out from apps.connections.open."""
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.drop()
        self._server.shutdown()
        self._thread.join(timeout=5)

    def drop(self) -> None:
        """Close the app's connection from Slack's side (the app's own close() then returns at once)."""
        with self._cond:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _handle(self, conn: ServerConnection) -> None:
        conn.send(json.dumps({"type": "hello", "num_connections": 1}))
        with self._cond:
            self._conn = conn
            self._cond.notify_all()
        try:
            for message in conn:
                data = json.loads(message)
                envelope = data.get("envelope_id")
                if envelope:
                    with self._cond:
                        self.acks[envelope] = (time.monotonic(), data.get("payload") or {})
                        self._cond.notify_all()
        except ConnectionClosed:
            pass

    def wait_connected(self, timeout: float = 5.0) -> None:
        """Block until the app has connected."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._conn is not None, timeout):
                raise AssertionError("the app did not connect to the Socket Mode server")

    def send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Push one envelope (`events_api`, `interactive`, `slash_commands`); returns its id."""
        envelope = f"env-{next(self._ids):04d}"
        body: dict[str, Any] = {
            "envelope_id": envelope,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            body |= {"retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else ""}
        with self._cond:
            conn = self._conn
            self.sent_at[envelope] = time.monotonic()
        if conn is None:
            raise AssertionError("no app connected")
        conn.send(json.dumps(body))
        return envelope

    def wait_ack(self, envelope: str, timeout: float = 5.0) -> dict[str, Any]:
        """The ack body of an envelope, once it arrives."""
        with self._cond:
            if not self._cond.wait_for(lambda: envelope in self.acks, timeout):
                raise AssertionError(f"no ack for {envelope} within {timeout}s")
            return self.acks[envelope][1]

    def ack_latency(self, envelope: str) -> float:
        """Seconds from sending an envelope to its ack."""
        with self._cond:
            return self.acks[envelope][0] - self.sent_at[envelope]
