"""A TCP proxy the tests can cut and restore, to play a database that goes away and comes back.

Two ways of going away, as a database host does:
- `stop()`: the server is down, its host answers. Open connections are reset and new ones
  refused, so clients notice at once.
- `blackhole()`: the host vanished from the network. Open connections stay open but nothing
  comes back, and new connections are accepted but never answered, so clients notice only
  when their own timeouts fire.
`latency` holds back every answer of the server that long: a slow database.
`cut_when(marker)` stops the proxy the moment a client sends bytes containing `marker` (a
statement's text), before forwarding them: a transaction is then cut at a chosen point.
"""

from __future__ import annotations

import asyncio
import contextlib


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self._silent = False
        self._marker: bytes | None = None
        self.cut = asyncio.Event()
        """Set when `cut_when`'s marker went by and the proxy stopped."""
        self.latency = 0.0
        """Seconds each answer of the server is held back: a slow database, or a far one."""

    async def start(self) -> None:
        """Serve (again) on the same port. After a blackhole the host is back as if it had
        restarted: the connections it swallowed bytes of are reset, new ones work."""
        if self._silent:
            self._silent = False
            self._cut_pipes()
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self._cut_pipes()

    async def blackhole(self) -> None:
        """Swallow everything: open and new connections stay up, and no byte goes through."""
        await self.start()
        self._silent = True

    def cut_when(self, marker: bytes) -> None:
        """`stop()` as soon as a client sends `marker`, which is not forwarded."""
        self.cut.clear()
        self._marker = marker

    def _cut_pipes(self) -> None:
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._pipes.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._pipes.discard(writer)
            return
        self._pipes.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer, upstream=True), self._pipe(up_reader, writer))

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool = False
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                if upstream and self._marker is not None and self._marker in data:
                    self._marker = None
                    await self.stop()
                    self.cut.set()
                    return
                if not upstream and self.latency:
                    await asyncio.sleep(self.latency)
                if not self._silent:
                    writer.write(data)
                    await writer.drain()
        writer.close()
        self._pipes.discard(writer)
