"""A TCP proxy on loopback that adds a fixed delay to every request, as a registry across a network would.

Each chunk the client sends (one HTTP request on a keep-alive connection) is held for `delay` seconds
before it is forwarded; responses flow back untouched. Used by bench/crawl.py; not part of Regent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Self


class LatencyProxy:
    """Forward 127.0.0.1:<port> to `target` ("host:port") with `delay` seconds added per request."""

    def __init__(self, target: str, *, delay: float) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._delay = delay
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._sock = sock

    @property
    def url(self) -> str:
        """Base URL of the proxy."""
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, server_w, self._delay), self._pipe(server_r, client_w, 0.0))

    def __enter__(self) -> Self:
        async def serve() -> asyncio.Server:
            return await asyncio.start_server(self._handle, sock=self._sock)

        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result()
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
