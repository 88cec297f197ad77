"""A deadline for every HTTP request: past `REQUEST_TIMEOUT_SECONDS` it is answered and cancelled.

Each database statement has its own timeout, but an operation runs many: with a slow
database one mutation of 20 tags took 25 s, every statement within its bound. This ASGI
middleware, around the query lane and the general path alike, bounds the whole request,
reading its body included: at the deadline the client gets `504 REQUEST_TIMEOUT` (JSON, in
the negotiated media type) and the request's task is cancelled.

The answer does not wait for the cancelled work to wind down. Its cleanup runs on in the
background: a unit of work's transaction is rolled back (the cancellation reaches it as an
exception, and `session.begin()` rolls back on any), and a read in flight, shielded so that
its connection always goes back to the pool (`db.sql.reads.RequestReads.run`), ends within its
statement timeout and gives the connection back when the request's `finally` closes it. A
mutation cut in its very COMMIT may have committed, as with any connection lost then.

A response already started is let finish: its status is sent, and nothing else can be said.
WebSockets are not bounded here: a socket lives long, and each of its operations' statements
still has the statement timeout.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.errors import RequestCode
from graph.transport.encoding import encode_json
from graph.transport.view import negotiate

log = logging.getLogger("conduit.errors")


class Deadline:
    """ASGI middleware: answer 504 and cancel a request still running after `seconds`.

    The request runs in its own task, as it did without the deadline, and one timer per
    server sweeps the requests in flight a few times per deadline: a task or a timer of
    each request's own would cost 10 to 30 µs, a fifth of a small query. So a request is
    stopped between `seconds` and a tenth more. The 504 is sent from a task of its own at
    that moment, so that the answer does not wait for the cancelled work's cleanup (a
    rollback, a read in flight), which runs on in the request's task.
    """

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._sweep_every = min(1.0, seconds / 10)
        self._in_flight: dict[_Response, float] = {}
        """Each running request's response, with the loop time it must be answered by."""
        self._sweeping: asyncio.TimerHandle | None = None
        self._sweeping_loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = asyncio.current_task()
        assert request is not None
        response = _Response(scope, send, request, self.seconds)
        loop = asyncio.get_running_loop()
        self._in_flight[response] = loop.time() + self.seconds
        if self._sweeping is None or self._sweeping_loop is not loop:  # a test may run a new loop
            self._sweeping_loop = loop
            self._sweeping = loop.call_later(self._sweep_every, self._sweep, loop)
        try:
            await self.app(scope, receive, response.send)
        except asyncio.CancelledError:
            if response.timeout is None:
                raise
            request.uncancel()
        finally:
            self._in_flight.pop(response, None)
            if response.timeout is not None:
                await response.timeout  # the 504 is out before the app returns (ASGI wants it)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for response, deadline in list(self._in_flight.items()):
            if deadline <= now:
                del self._in_flight[response]
                response.expire()
        self._sweeping = loop.call_later(self._sweep_every, self._sweep, loop) if self._in_flight else None


class _Response:
    """The request's `send`, noting when the response starts; silent once the deadline passed."""

    def __init__(self, scope: Scope, send: Send, request: asyncio.Task[Any], seconds: float) -> None:
        self._scope = scope
        self._send = send
        self._request = request
        self._seconds = seconds
        self.started = False
        self.timeout: asyncio.Task[None] | None = None

    async def send(self, message: Message) -> None:
        if self.timeout is not None:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    def expire(self) -> None:
        """At the deadline: answer 504 now and cancel the request (unless it began to answer)."""
        if self.started:
            return
        scope = self._scope
        log.warning("request cancelled after %s s: %s %s", self._seconds, scope["method"], scope["path"])
        self.timeout = asyncio.ensure_future(send_timeout(self._send, scope, self._seconds))
        self._request.cancel()


async def send_timeout(send: Send, scope: Scope, seconds: float) -> None:
    headers = dict(scope["headers"])
    media_type = negotiate(headers.get(b"accept", b"").decode("latin-1") or None)
    message = (
        f"The request took longer than {seconds:g} s, the limit: "
        "it was stopped, and nothing it wrote was kept."
    )
    body = encode_json(
        {"errors": [{"message": message, "extensions": {"code": RequestCode.REQUEST_TIMEOUT}}]}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 504,
            "headers": [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
