"""A deadline for every HTTP request: past `REQUEST_TIMEOUT_SECONDS` it is answered and cancelled.

Each database statement has its own timeout, but an operation runs many: with a slow
database one mutation of 20 tags took 25 s, every statement within its bound. This ASGI
middleware, around the query lane and the general path alike, bounds the whole request,
reading its body included: at the deadline the client gets `504 REQUEST_TIMEOUT` (JSON, in
the negotiated media type) and the request's task is cancelled.

The answer does not wait for the cancelled work to wind down. Its cleanup runs on in the
background: a unit of work's transaction is rolled back (the cancellation reaches it as an
exception, and `session.begin()` rolls back on any), and a read in flight, shielded so that
its connection always goes back to the pool (`db.engine.Reads.run`), ends within its
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

from graph.encoding import encode_json
from graph.http import negotiate

log = logging.getLogger("conduit.errors")
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"


class Deadline:
    """ASGI middleware: answer 504 and cancel a request still running after `seconds`."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._winding_down: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = _Response(send)
        task = asyncio.ensure_future(self.app(scope, receive, response.send))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if done or response.started:
            await task  # its result, or its exception, as without a deadline
            return
        response.cut = True
        task.cancel()
        self._winding_down.add(task)
        task.add_done_callback(self._wound_down)
        log.warning("request cancelled after %s s: %s %s", self.seconds, scope["method"], scope["path"])
        await send_timeout(send, scope, self.seconds)

    def _wound_down(self, task: asyncio.Task[Any]) -> None:
        self._winding_down.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a cancelled request failed while winding down", exc_info=task.exception())


class _Response:
    """The request's `send`, noting when the response starts; silent once `cut`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.cut = False

    async def send(self, message: Message) -> None:
        if self.cut:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def send_timeout(send: Send, scope: Scope, seconds: float) -> None:
    headers = dict(scope["headers"])
    media_type = negotiate(headers.get(b"accept", b"").decode("latin-1") or None)
    message = (
        f"The request took longer than {seconds:g} s, the limit: "
        "it was stopped, and nothing it wrote was kept."
    )
    body = encode_json({"errors": [{"message": message, "extensions": {"code": REQUEST_TIMEOUT}}]})
    await send(
        {
            "type": "http.response.start",
            "status": 504,
            "headers": [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
