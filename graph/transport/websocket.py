"""WebSocket plumbing for subscriptions (graphql-transport-ws and the legacy graphql-ws).

Strawberry's protocol handlers trust a message's shape: a JSON array, a payload that is a
string or an `id` that is an object made them raise inside the ASGI app (uvicorn then logged
"Exception in ASGI application" and dropped the socket without a close frame), and a reason
echoing a long `type` or `id` was too long for a close frame. Every message is checked here,
before a handler sees it; one that is not what both protocols define closes the socket.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from json import JSONDecodeError

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from graph.transport.encoding import encode_json

#: RFC 6455 1007: "data within a message that was not consistent with the type of the message".
INVALID_DATA = 1007
#: RFC 6455 1009: "a message that is too big for it to process".
MESSAGE_TOO_BIG = 1009
#: graphql-transport-ws closes with 4400 on a message it cannot accept.
BAD_MESSAGE = 4400
#: A close frame's payload is at most 125 bytes: the 2-byte code, then the reason.
MAX_CLOSE_REASON_BYTES = 123
#: Messages that name an operation by `id`, and those that start one with a `payload`.
_WITH_ID = frozenset({"subscribe", "start", "stop", "complete"})
_STARTS = frozenset({"subscribe", "start"})


#: uvicorn's `--ws` for `WebSocketProtocol` (`conduit serve` uses it).
WEBSOCKET_PROTOCOL = "graph.transport.websocket:WebSocketProtocol"
#: Pongs not yet sent past which a connection is read no further (asyncio's high-water mark).
PONG_BACKLOG_BYTES = 64 * 1024


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol, the one `--ws auto` picks, minus a flood.

    It answers every ping frame with a pong at once and never stops reading: a client that
    sends pings and reads nothing back grew the server's memory by what it sent (100 MiB of
    pings, 110 MiB more). Here, once the pongs waiting to be sent pass `PONG_BACKLOG_BYTES`,
    the connection is not read until they drain, as a full write buffer should mean.
    Nor does a client's text that is not UTF-8 make it log an error.
    """

    _pongs_backlogged = False

    def send_receive_event_to_app(self) -> None:
        """A text message that is not UTF-8 is closed with 1007, as uvicorn does, but without
        its error line and traceback: any client could write those into the log at will."""
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.conn.send_close(INVALID_DATA, "Text messages must be UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def handle_ping(self) -> None:
        super().handle_ping()
        if not self._pongs_backlogged and self.transport.get_write_buffer_size() > PONG_BACKLOG_BYTES:
            self._pongs_backlogged = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._pongs_backlogged:
            self._pongs_backlogged = False
            if not self.read_paused:  # paused for the app's sake too: uvicorn resumes it
                self.transport.resume_reading()


class TextFrameWebSocket(ASGIWebSocketAdapter):
    """Sends every message as a text frame: both protocols require text, and browser and
    Node clients (graphql-ws, GraphiQL) fail on the binary frames JSON bytes would make.

    Receives only messages of at most `MAX_REQUEST_BYTES` (as over HTTP): a bigger one closes
    the socket with 1009. `conduit serve` has uvicorn refuse it while reading the frames
    (`ws_max_size`), before it is buffered; this check holds under any server, after it.
    """

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        limit: int = getattr(self.view, "max_request_bytes", 1024 * 1024)
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit // 4 and len(text.encode()) > limit:
                    await self.close(MESSAGE_TOO_BIG, f"Messages are limited to {limit} bytes")
                    return
                try:
                    message = self.view.decode_json(text)
                except JSONDecodeError as error:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from error
                problem = malformed(message)
                if problem is not None:
                    await self.close(BAD_MESSAGE, problem)
                    return
                yield message
        except KeyError as error:  # a binary frame: Starlette's message has no "text"
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(encode_json(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def close(self, code: int, reason: str) -> None:
        """Strawberry's reasons may quote a client's `id` or `type`: cut to what a frame holds."""
        await super().close(code, close_reason(reason))


def close_reason(reason: str) -> str:
    """`reason` cut to `MAX_CLOSE_REASON_BYTES` of UTF-8, never inside a character."""
    return reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


def malformed(message: object) -> str | None:
    """Why `message` is no message of graphql-transport-ws or graphql-ws, or None if it is one.

    Both protocols send objects with a string `type`; an operation's `id` is a string; a
    `subscribe` (`start`) payload is an object with a string `query`, optional object
    `variables` and `extensions`, and an optional string `operationName`.
    """
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message must be an object with a string type"
    kind = message["type"]
    if kind in _WITH_ID and not isinstance(message.get("id"), str):
        return f"A {kind} message needs a string id"
    if kind in _STARTS:
        return _malformed_operation(message.get("payload"))
    return None


def _malformed_operation(payload: object) -> str | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return "The payload must be an object with a string query"
    for key, kind in (("variables", dict), ("extensions", dict), ("operationName", str)):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            return f"The payload's {key} must be {'an object' if kind is dict else 'a string'}"
    return None
