"""The HTTP protocol the app is served with: uvicorn's httptools protocol, its writes joined.

uvicorn writes a response's status line and headers when the app starts the response, and its
body when the app sends it: two system calls, and two TCP segments (Nagle's algorithm is off),
for a response that is whole in memory at once. On a small response that second call costs as
much as a fifth of the request: `{ __typename }` served 4,840 req/s with two writes, 6,000 with
one, side by side. Here the writes a connection makes in one turn of the event loop are joined
and sent at the end of that turn. Nothing waits longer than the turn, so responses sent in
parts (streamed results, WebSocket frames after an upgrade) flow as they did.

`conduit serve` uses `HttpProtocol`; uvicorn takes it by name too:
`uvicorn --http graph.serving:HttpProtocol`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "graph.serving:HttpProtocol"


class JoiningTransport(asyncio.Transport):
    """A transport whose writes of one event-loop turn go out as one write, at its end."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending))

    def close(self) -> None:
        """Close once what was written went out (as `close` promises)."""
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `JoiningTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(JoiningTransport(transport, self.loop))
