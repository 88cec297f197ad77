"""The HTTP protocol the app is served with: uvicorn's httptools protocol, its writes joined.

uvicorn writes a response's status line and headers when the app starts the response, and its
body when the app sends it: two system calls, and two TCP segments (Nagle's algorithm is off),
for a response that is whole in memory at once. On a small response that second call costs as
much as a fifth of the request: `{ __typename }` served 4,840 req/s with two writes, 6,000 with
one, side by side. Here the writes a connection makes in one turn of the event loop are joined
and sent at the end of that turn. Nothing waits longer than the turn, so responses sent in
parts (streamed results, WebSocket frames after an upgrade) flow as they did.

It also bounds what uvicorn's httptools protocol reads before the app sees a request, and
answers every refusal at that level as a JSON GraphQL error instead of uvicorn's text/plain:

- The request line and headers: httptools buffers them whole, with no limit (a 5 MB header
  was read and served). A URL longer than `MAX_REQUEST_BYTES` plus `PATH_ALLOWANCE` is
  refused with 413 `PAYLOAD_TOO_LARGE`, as the app refuses a query string over the limit;
  headers past `HEADERS_LIMIT` bytes with 431 `REQUEST_HEADER_FIELDS_TOO_LARGE`.
- URLs of 64 KiB and more: httptools' URL parser keeps offsets in 16 bits and fails on them
  (uvicorn answered a plain 400 to any GET whose query string passed 65,535 bytes). Such a
  URL is split here, so the documented limit is the only one.
- A request httptools cannot parse: 400 `BAD_REQUEST`, in JSON.
- Time: uvicorn bounds only the wait between requests (keep-alive), so a connection that
  sends nothing, or its head a byte at a time, was held forever. The head of each request
  must arrive within `REQUEST_TIMEOUT_SECONDS` (the app's deadline then bounds the rest):
  past it, 408 `REQUEST_TIMEOUT`.

A graceful shutdown (SIGTERM) ends the event streams of graph/transport/sse.py: uvicorn waits
for every response in progress to finish, and a subscription's never would. Each request's
`scope["extensions"][DRAINING]["event"]` is set once the server begins to shut down.

The limits are the environment's `MAX_REQUEST_BYTES` and `REQUEST_TIMEOUT_SECONDS`, read as
the app reads them.

`conduit serve` uses `HttpProtocol`; uvicorn takes it by name too:
`uvicorn --http graph.transport.protocol:HttpProtocol`.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from db.settings import Settings
from graph.errors import RequestCode
from graph.transport.encoding import encode_json

PROTOCOL = "graph.transport.protocol:HttpProtocol"
PATH_ALLOWANCE = 8 * 1024
"""What a URL may hold besides its query string: the path, `?`, a fragment."""
HEADERS_LIMIT = 64 * 1024
"""The most bytes of headers a request may send (nginx allows 32 KiB, Node.js 16 KiB)."""
LINGER_SECONDS = 2.0
"""How long a refused connection still reads (and drops) what the client sends."""
_PARSED_URL_LIMIT = 65_535
"""httptools.parse_url fails past this (its offsets are 16-bit)."""
DRAINING = "conduit.draining"
"""The scope extension whose `event` is set when the server begins a graceful shutdown."""
_draining: WeakKeyDictionary[object, asyncio.Event] = WeakKeyDictionary()
"""One event per server (its `server_state`), set by the first connection told to shut down."""


@cache
def _settings() -> Settings:
    return Settings()


def max_request_bytes() -> int:
    return _settings().max_request_bytes


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

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

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


class _Refused(Exception):
    """Raised in a parser callback: httptools stops, and uvicorn calls `send_400_response`."""


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `JoiningTransport`, with bounded request heads."""

    _refusal: tuple[int, str, str] | None = None
    _head_bytes = 0
    _in_head = False
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(JoiningTransport(transport, self.loop))
        self._arm_head_timer()  # a connection that never sends a byte is bounded too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            seconds = _settings().request_timeout_seconds
            self._head_timer = self.loop.call_later(seconds, self._head_timed_out, seconds)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self, seconds: float) -> None:
        self._head_timer = None
        if self._refusal is None and not self.transport.is_closing():
            message = f"The request did not arrive within {seconds:g} s."
            self._refusal = (408, RequestCode.REQUEST_TIMEOUT, message)
            self.send_400_response(message)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # answered and closing: nothing more is read
        super().data_received(data)
        if self._in_head and self._refusal is None:
            # Still in the head after this chunk: all of it was the head (or the end of the
            # previous request's body, a small overcount).
            self._head_bytes += len(data)
            if self._head_bytes - len(self.url) > HEADERS_LIMIT:
                self._refuse_headers()
                self.send_400_response("")

    def _refuse_headers(self) -> None:
        message = f"The request's headers are larger than {HEADERS_LIMIT} bytes."
        self._refusal = (431, RequestCode.REQUEST_HEADER_FIELDS_TOO_LARGE, message)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0
        self._arm_head_timer()
        draining = _draining.setdefault(self.server_state, asyncio.Event())
        self.scope["extensions"] = {DRAINING: {"event": draining}}

    def shutdown(self) -> None:
        """The server stops: the app's long responses (event streams) are told to end."""
        _draining.setdefault(self.server_state, asyncio.Event()).set()
        super().shutdown()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        limit = max_request_bytes()
        if len(self.url) > limit + PATH_ALLOWANCE:
            self._refusal = (413, RequestCode.PAYLOAD_TOO_LARGE, f"The request is larger than {limit} bytes.")
            raise _Refused

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        if sum(len(name) + len(value) + 4 for name, value in self.headers) > HEADERS_LIMIT:
            self._refuse_headers()
            raise _Refused
        url = self.url
        if len(url) <= _PARSED_URL_LIMIT or (self.parser.should_upgrade() and self._should_upgrade()):
            super().on_headers_complete()
            return
        # Split off the query string, which the app reads from the scope (its task starts on
        # the next turn of the loop, after this); the path left is parsed as usual.
        path, _, query = url.partition(b"?")
        self.url = path
        super().on_headers_complete()
        self.scope["query_string"] = query.partition(b"#")[0]

    def send_400_response(self, msg: str) -> None:
        """Every refusal of this layer, as JSON: a 400 for what httptools could not parse."""
        status, code, message = self._refusal or (400, RequestCode.BAD_REQUEST, msg)
        self._refusal = (status, code, message)
        body = encode_json({"errors": [{"message": message, "extensions": {"code": code}}]})
        head = [STATUS_LINE[status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        # Closing with unread bytes would reset the connection, and a client still sending
        # would lose the answer: send it and the end of the stream, read and drop what
        # still comes for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
