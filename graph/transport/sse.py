"""GraphQL over Server-Sent Events (the `graphql-sse` protocol) on /graphql/stream.

For clients behind proxies that block WebSockets. Both of the protocol's modes:

- Distinct connections: a GET or POST with `Accept: text/event-stream` carries one operation
  (as GraphQL over HTTP has it) and its response is the stream: a `next` event per result,
  then `complete`, and the stream ends. Closing it stops the operation.
- Single connection: PUT reserves a stream and answers its token (201, text/plain); a GET with
  the token (`x-graphql-event-stream-token` header, or `?token=` for `EventSource`) opens it;
  each POST with the token and `extensions.operationId` starts an operation whose events,
  `{id, payload}`, go to that stream (202); DELETE `?operationId=` stops one. The stream and
  its operations live in this server process: every request of one stream must reach it.

What it shares with the WebSocket on /graphql, so neither is a way around the other:

- the schema, with every limit and error policy of its extensions; the operation's request
  checks (size, JSON, nesting) are the HTTP view's own (`GraphQLOverHTTP.read_operation`);
- the context of a long-lived connection (its reads hold no connection between statements),
  signed in by the `Authorization` header: a bad token is refused (401), never anonymous;
- `WS_ALLOWED_ORIGINS`: a page on another origin is refused (403) unless listed;
- `WS_MAX_SUBSCRIPTIONS_PER_CONNECTION` operations per stream (one more is answered with an
  error event for its id, as the socket answers it), and `WS_CONNECTION_INIT_TIMEOUT_SECONDS`
  for a reservation to be opened, after which it is dropped.

An idle stream gets a comment every `SSE_KEEPALIVE_SECONDS`. A stream ends when the client
goes away (its operations are cancelled, their listeners removed) or when `conduit serve`
shuts down gracefully (graph/transport/protocol.py `DRAINING`): the stream then ends without
`complete`, and the client reconnects as after any lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from cross_web import HTTPException
from graphql import OperationType as Operation
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.http import GraphQLRequestData, process_result
from strawberry.http.streaming import SSETransport
from strawberry.http.websocket_origin import is_same_origin, normalize_allowed_origins, normalize_origin
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing

from db.settings import Settings
from graph.errors import masked
from graph.transport.documents import DocumentRefused
from graph.transport.encoding import encode_json
from graph.transport.protocol import DRAINING
from graph.transport.view import JSON, GraphQLOverHTTP, PayloadTooLarge
from graph.transport.wire import operation_type

log = logging.getLogger("conduit.sse")

STREAM_PATH = "/graphql/stream"
TOKEN_HEADER = "x-graphql-event-stream-token"
TOKEN_QUERY = "token"
ALLOWED_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
#: The longest `extensions.operationId` kept (graphql-sse's are UUIDs, 36 characters).
MAX_OPERATION_ID = 128
#: Events a stream holds for a client that reads slowly; past it, its operations wait.
MAX_PENDING_EVENTS = 100
#: Sent first, so that every browser sees the stream open (some wait for a byte of the body).
OPENED = b":\n\n"
KEEPALIVE = b": keep-alive\n\n"
_END = None
_SSE = SSETransport()
_ANY_OPERATION = (OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION)


class Caller(Protocol):
    """What a request's context says of who sent it (graph/context.py `Context`)."""

    viewer_id: int | None
    auth_error: str | None

    async def close(self) -> None:
        """Roll back what the operation did not commit (it was stopped), give connections back."""


@dataclass(eq=False)
class Stream:
    """One event stream: the events waiting to be written, and the operations writing them."""

    viewer_id: int | None
    events: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(MAX_PENDING_EVENTS))
    operations: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    opened: bool = False
    ended: bool = False
    expiry: asyncio.TimerHandle | None = None

    def end(self) -> None:
        """Have the stream's writer stop now, whatever events still wait (the client left, the
        server stops)."""
        self.ended = True
        with contextlib.suppress(asyncio.QueueFull):  # full: the writer is busy, and sees `ended`
            self.events.put_nowait(_END)

    def close(self) -> None:
        """Stop every operation (their generators close: listeners are removed) and the timer."""
        for task in self.operations.values():
            task.cancel()
        self.operations.clear()
        if self.expiry is not None:
            self.expiry.cancel()


class EventStreams:
    """The ASGI app of /graphql/stream (see the module's doc)."""

    def __init__(
        self, view: GraphQLOverHTTP[Any, Any], settings: Settings, context: Callable[[Request], Caller]
    ) -> None:
        self.view = view
        self.context = context
        self.keepalive_seconds = settings.sse_keepalive_seconds
        self.max_operations = settings.ws_max_subscriptions_per_connection
        self.reservation_seconds = settings.ws_connection_init_timeout_seconds
        self.allowed_origins = normalize_allowed_origins(settings.ws_allowed_origins)
        self.streams: dict[str, Stream] = {}
        """Reserved and open streams of the single connection mode, by token."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._answer(scope, receive, send)
        if response is not None:
            if scope["method"] == "HEAD":
                response.body = b""
            await response(scope, receive, send)

    def close(self) -> None:
        """The app stops: every stream ends now (its operations are cancelled)."""
        for stream in list(self.streams.values()):
            self._drop(stream)
            stream.end()

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> Response | None:
        """The response to send, or None once the request was answered with a stream."""
        method = scope["method"]
        if method == "OPTIONS":  # a preflight never gets here (graph/transport/cors.py)
            return Response(status_code=204, headers={"Allow": ", ".join(ALLOWED_METHODS)})
        if method not in ALLOWED_METHODS:
            refusal = self._refuse(405, "Use GET, POST, PUT or DELETE on /graphql/stream (graphql-sse).")
            refusal.headers["Allow"] = ", ".join(ALLOWED_METHODS)
            return refusal
        request = Request(scope)
        if not self._origin_allowed(request.headers):
            return self._refuse(403, "This origin may not open event streams (see WS_ALLOWED_ORIGINS).")
        caller = self.context(request)
        if caller.auth_error is not None:
            return self._refuse(401, caller.auth_error)
        if method == "PUT":
            return self._reserve(caller)
        token = request.headers.get(TOKEN_HEADER) or request.query_params.get(TOKEN_QUERY)
        wants_stream = _SSE.accepts(request.headers.get("accept", ""))
        if token is None:
            if method == "DELETE":
                return self._refuse(404, f"No stream: send its token in the {TOKEN_HEADER} header.")
            if not wants_stream:
                return self._refuse(406, "Accept text/event-stream, or reserve a stream with PUT.")
            return await self._distinct(scope, receive, send, caller)
        stream = self.streams.get(token)
        if stream is None:
            return self._refuse(404, "No such stream in this server process (reserve one with PUT).")
        if caller.viewer_id != stream.viewer_id and not (wants_stream and caller.viewer_id is None):
            return self._refuse(403, "The stream was reserved by another viewer.")
        if method == "DELETE":
            return self._stop(stream, request.query_params.get("operationId"))
        if wants_stream:
            if stream.opened:
                return self._refuse(409, "The stream is already open.")
            await self._serve(stream, scope, receive, send)
            return None
        return await self._start(stream, scope, receive, caller)

    async def _read(self, scope: Scope, receive: Receive) -> GraphQLRequestData | Response:
        """The request's operation, or the refusal to answer: as over HTTP, a request that
        breaks a rule (size, JSON, nesting), or a mutation sent with GET."""
        try:
            operation = await self.view.read_operation(scope, receive)
        except (PayloadTooLarge, HTTPException, DocumentRefused) as error:
            return self.view.refusal(error, JSON)
        kind = (
            operation_type(operation.query or "", operation.operation_name)
            if scope["method"] == "GET"
            else None
        )
        if kind == Operation.MUTATION:
            return self._refuse(400, "mutations are not allowed when using GET")  # as on /graphql
        return operation

    def _reserve(self, caller: Caller) -> Response:
        token = secrets.token_urlsafe(32)
        stream = self.streams[token] = Stream(caller.viewer_id)
        loop = asyncio.get_running_loop()
        stream.expiry = loop.call_later(self.reservation_seconds, self._expire, stream)
        return Response(token, status_code=201, media_type="text/plain")

    def _expire(self, stream: Stream) -> None:
        if not stream.opened:
            self._drop(stream)

    def _drop(self, stream: Stream) -> None:
        stream.close()
        for token, held in list(self.streams.items()):
            if held is stream:
                del self.streams[token]

    def _stop(self, stream: Stream, operation_id: str | None) -> Response:
        if not operation_id:
            return self._refuse(400, "Name the operation to stop: ?operationId=…")
        task = stream.operations.pop(operation_id, None)
        if task is not None:
            task.cancel()
        return Response(status_code=200)

    async def _start(self, stream: Stream, scope: Scope, receive: Receive, caller: Caller) -> Response:
        """A single connection mode operation: accepted (202), its results sent to `stream`."""
        operation = await self._read(scope, receive)
        if isinstance(operation, Response):
            return operation
        operation_id = (operation.extensions or {}).get("operationId")
        if not isinstance(operation_id, str) or not 0 < len(operation_id) <= MAX_OPERATION_ID:
            return self._refuse(400, f"extensions.operationId must be a string of 1 to {MAX_OPERATION_ID}.")
        if operation_id in stream.operations:
            return self._refuse(409, "An operation with this operationId is running on the stream.")
        if len(stream.operations) >= self.max_operations:
            limit = {"errors": [{"message": "Subscription limit reached"}]}
            await stream.events.put(_event("next", {"id": operation_id, "payload": limit}))
            await stream.events.put(_event("complete", {"id": operation_id}))
            return Response(status_code=202)
        run = self._run(stream, operation_id, operation, caller)
        stream.operations[operation_id] = asyncio.create_task(run, name="conduit-sse-operation")
        return Response(status_code=202)

    async def _distinct(self, scope: Scope, receive: Receive, send: Send, caller: Caller) -> Response | None:
        """A distinct connections mode request: its operation's events are its response."""
        operation = await self._read(scope, receive)
        if isinstance(operation, Response):
            return operation
        stream = Stream(caller.viewer_id)
        run = self._run(stream, None, operation, caller)
        stream.operations[""] = asyncio.create_task(run, name="conduit-sse-operation")
        await self._serve(stream, scope, receive, send)
        return None

    async def _run(
        self,
        stream: Stream,
        operation_id: str | None,
        operation: GraphQLRequestData,
        context: Caller,
    ) -> None:
        """Run one operation, each result a `next` event, then `complete` (not when stopped)."""
        try:
            await self._results(stream, operation_id, operation, context)
        finally:  # stopped (the client left, DELETE) in a mutation, its transaction is rolled back
            await asyncio.shield(context.close())
        stream.operations.pop(operation_id or "", None)
        await stream.events.put(_event("complete", None if operation_id is None else {"id": operation_id}))
        if operation_id is None:
            await stream.events.put(_END)  # distinct connections: one operation a stream, then it ends

    async def _results(
        self, stream: Stream, operation_id: str | None, operation: GraphQLRequestData, context: Caller
    ) -> None:
        try:
            results = await self.view.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
                operation_extensions=operation.extensions,
                allowed_operation_types=_ANY_OPERATION,
            )
            async with aclosing(results):
                async for result in results:
                    payload = process_result(cast(ExecutionResult, result))
                    await stream.events.put(_event("next", _addressed(operation_id, payload)))
        except Exception as error:  # the schema masks its own errors: this is a bug, and logged
            payload = {"data": None, "errors": [masked(error).formatted]}
            await stream.events.put(_event("next", _addressed(operation_id, payload)))

    async def _serve(self, stream: Stream, scope: Scope, receive: Receive, send: Send) -> None:
        """Write the stream's events until it ends, the client leaves or the server drains."""
        stream.opened = True
        if stream.expiry is not None:
            stream.expiry.cancel()
        headers = [(name.lower().encode(), value.encode()) for name, value in _SSE.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": OPENED, "more_body": True})
        watchers = [asyncio.create_task(_until_disconnected(receive, stream))]
        draining = scope.get("extensions", {}).get(DRAINING)
        if draining is not None:
            watchers.append(asyncio.create_task(_until_set(draining["event"], stream)))
        try:
            while not stream.ended:
                try:
                    event = await asyncio.wait_for(stream.events.get(), self.keepalive_seconds)
                except TimeoutError:
                    event = KEEPALIVE
                if event is _END:
                    break
                await send({"type": "http.response.body", "body": event, "more_body": True})
        finally:
            for watcher in watchers:
                watcher.cancel()
            self._drop(stream)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _origin_allowed(self, headers: Headers) -> bool:
        """As for a WebSocket: no Origin (no browser), the same origin, or one allowed."""
        origin = headers.get("origin")
        if origin is None or headers.get("sec-fetch-site") == "same-origin":
            return True
        if is_same_origin(origin, headers.get("host")) or "*" in self.allowed_origins:
            return True
        return normalize_origin(origin) in self.allowed_origins

    def _refuse(self, status: int, message: str) -> Response:
        return self.view.error_response(status, message, JSON)


def _addressed(operation_id: str | None, payload: object) -> object:
    """A result as the mode sends it: alone (distinct), or `{id, payload}` (single)."""
    return payload if operation_id is None else {"id": operation_id, "payload": payload}


def _event(name: str, data: object) -> bytes:
    return _SSE.encode_event(name, None if data is None else encode_json(data).decode()).encode()


async def _until_disconnected(receive: Receive, stream: Stream) -> None:
    message: Message = {"type": ""}
    while message["type"] != "http.disconnect":
        message = await receive()
    stream.end()


async def _until_set(event: asyncio.Event, stream: Stream) -> None:
    await event.wait()
    stream.end()
