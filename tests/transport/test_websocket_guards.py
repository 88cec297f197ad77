"""Over WebSocket as over HTTP: the operation limits, the token rules, error masking, the
size of a message and the shape of every message.

A refused subscription never starts: no listener is registered, nothing is read. Both
protocols are checked (graphql-transport-ws and the legacy graphql-ws).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import struct
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed

import db.comments
from db.settings import Settings
from graph.app import create_app
from tests.support.engines import settings_for
from tests.support.servers import ROOT, free_port, serving_in_loop
from tests.transport.test_subscriptions import TransportWs, add_comment, article_by, eventually, open_socket

LIMITS = {"max_query_cost": 50, "max_query_depth": 8, "max_query_aliases": 2, "max_query_tokens": 80}
# One comment's article, its comments and their authors: 10 + 10 * 5 rows for each event.
COSTLY = """
subscription Costly($slug: String!) {
  commentAdded(articleSlug: $slug) {
    article { comments(first: 10) { edges { node { author { articles(first: 5) { totalCount } } } } } }
  }
}
"""
DEEP = """
subscription Deep($slug: String!) {
  commentAdded(articleSlug: $slug) {
    article {
      author { favorites(first: 1) { edges { node { author { articles(first: 1) { totalCount } } } } } }
    }
  }
}
"""
ALIASED = (
    "subscription Aliased($slug: String!) { c: commentAdded(articleSlug: $slug) { a: id b: body d: id } }"
)
LONG = "subscription Long($slug: String!) { commentAdded(articleSlug: $slug) { " + "id " * 80 + "} }"
FITS = "subscription Fits($slug: String!) { commentAdded(articleSlug: $slug) { id body } }"
REFUSED = {
    "cost": (COSTLY, {"requested": 60, "limit": 50}),
    "depth": (DEEP, {"requested": 9, "limit": 8}),
    "aliases": (ALIASED, {"requested": 4, "limit": 2}),
}


@dataclass(frozen=True)
class Served:
    app: FastAPI
    address: str
    slug: str
    """An article's."""
    token: str
    """Its author's."""


@pytest.fixture
async def limited(app: FastAPI, settings: Settings) -> AsyncIterator[Served]:
    """An app with small limits, served, with an article (`app` only empties the tables)."""
    strict = create_app(settings_for(settings.database_url, **LIMITS))
    async with strict.router.lifespan_context(strict), serving_in_loop(strict) as address:
        transport = httpx.ASGITransport(app=strict)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            token, slug = await article_by(client, "writer")
        yield Served(strict, address, slug, token)


def listeners(app: FastAPI) -> int:
    return int(app.state.services.events.listener_count)


async def first_reply(address: str, protocol: str, query: str, slug: str) -> dict[str, Any]:
    """The server's first message about a subscription sent with `protocol`."""
    async with open_socket(address, protocol) as socket:
        ws = TransportWs(socket)
        await ws.init()
        start = "subscribe" if protocol == "graphql-transport-ws" else "start"
        await ws.send({"id": "1", "type": start, "payload": {"query": query, "variables": {"slug": slug}}})
        return await ws.receive()


@pytest.mark.parametrize("limit", list(REFUSED))
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_subscription_over_a_limit_is_refused_before_it_starts(
    limited: Served, protocol: str, limit: str
) -> None:
    app, address, slug = limited.app, limited.address, limited.slug
    query, report = REFUSED[limit]
    message = await first_reply(address, protocol, query, slug)
    assert (message["type"], message["id"]) == ("error", "1")
    # graphql-transport-ws sends a list of errors, the legacy protocol a single one.
    [error] = message["payload"] if protocol == "graphql-transport-ws" else [message["payload"]]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", limit: report}
    assert listeners(app) == 0


async def test_a_subscription_over_the_token_limit_is_refused(limited: Served) -> None:
    app, address, slug = limited.app, limited.address, limited.slug
    # graphql-transport-ws closes the socket on a document that does not parse (4400, the
    # reason naming the limit); the legacy protocol answers with an error.
    with pytest.raises(ConnectionClosed) as closed:
        await first_reply(address, "graphql-transport-ws", LONG, slug)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert closed.value.rcvd.reason == "The document has more than 80 tokens, the limit."
    message = await first_reply(address, "graphql-ws", LONG, slug)
    assert message["type"] == "error"
    assert message["payload"]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "tokens": {"limit": 80}}
    assert listeners(app) == 0


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_subscription_within_the_limits_starts(limited: Served, protocol: str) -> None:
    app, address, slug = limited.app, limited.address, limited.slug
    async with open_socket(address, protocol) as socket:
        ws = TransportWs(socket)
        await ws.init()
        start = "subscribe" if protocol == "graphql-transport-ws" else "start"
        await ws.send({"id": "1", "type": start, "payload": {"query": FITS, "variables": {"slug": slug}}})
        await eventually(lambda: listeners(app) == 1, "the subscription to listen")


async def test_a_bad_token_in_the_upgrade_header_refuses_the_socket(
    limited: Served,
) -> None:
    app, address = limited.app, limited.address
    headers = {"Authorization": "Bearer not-a-token"}
    # Never served as anonymous: graphql-transport-ws closes with 4403 ...
    async with open_socket(address, additional_headers=headers) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(ConnectionClosed) as closed:
            await TransportWs(socket).receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # ... the legacy protocol answers connection_error, then closes.
    async with open_socket(address, "graphql-ws", additional_headers=headers) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        refusal = await TransportWs(socket).receive()
        assert refusal == {
            "type": "connection_error",
            "payload": {"message": "the token is invalid", "code": "UNAUTHENTICATED"},
        }
        with pytest.raises(ConnectionClosed):
            await TransportWs(socket).receive()
    # A valid token in the connection_init payload replaces the header's.
    async with open_socket(address, additional_headers=headers) as socket:
        await TransportWs(socket).init({"Authorization": f"Bearer {limited.token}"})
    assert listeners(app) == 0


async def test_an_unexpected_error_in_a_running_subscription_is_masked(
    limited: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app, address, slug = limited.app, limited.address, limited.slug

    async def explode(*_: Any, **__: Any) -> Any:
        raise KeyError("internal detail")

    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.send(
            {"id": "1", "type": "subscribe", "payload": {"query": FITS, "variables": {"slug": slug}}}
        )
        await eventually(lambda: listeners(app) == 1, "the subscription to listen")
        monkeypatch.setattr(db.comments, "comments_by_id", explode)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            await add_comment(client, limited.token, slug, "hello")
        message = await ws.receive()
    assert message["type"] == "next", message
    [error] = message["payload"]["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "internal detail" not in json.dumps(message)
    logged = [r for r in caplog.records if error["extensions"]["errorId"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None


SMALL = 64 * 1024
"""`MAX_REQUEST_BYTES` for the message-size tests: small, so they send little."""
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]


@pytest.fixture
async def bounded(app: FastAPI, settings: Settings) -> AsyncIterator[tuple[FastAPI, str]]:
    """An app with `MAX_REQUEST_BYTES` = `SMALL`, served as `conduit serve` serves it."""
    small = create_app(settings_for(settings.database_url, max_request_bytes=SMALL))
    async with small.router.lifespan_context(small), serving_in_loop(small) as address:
        yield small, address


class RawSocket:
    """A WebSocket spoken byte by byte, to send frames no client library would send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: str, protocol: str) -> RawSocket:
        host, port = address.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /graphql HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    @staticmethod
    def header(length: int, *, opcode: int = 0x1, final: bool = True) -> bytes:
        """A client frame's header announcing `length` bytes, masked with zeros (no change)."""
        return struct.pack("!BBQ", (0x80 if final else 0) | opcode, 0x80 | 127, length) + bytes(4)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close_code(self) -> int:
        """The code of the server's close frame, the first frame it sends here."""
        first, length = await asyncio.wait_for(self.reader.readexactly(2), 10)
        assert first == 0x88, f"a close frame, not opcode {first:#x}"
        payload = await self.reader.readexactly(length)
        code: int = struct.unpack("!H", payload[:2])[0]
        return code

    def abort(self) -> None:
        self.writer.transport.abort()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_message_announced_over_max_request_bytes_is_refused_before_it_is_read(
    bounded: tuple[FastAPI, str], protocol: str
) -> None:
    _, address = bounded
    socket = await RawSocket.open(address, protocol)
    try:
        # 15 MiB announced, 1 KiB sent: the close can only come from the frame's header.
        await socket.send(RawSocket.header(15 * 1024 * 1024) + b"x" * 1024)
        assert await socket.close_code() == 1009
    finally:
        socket.abort()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_fragmented_message_over_max_request_bytes_is_refused_at_the_fragment_past_it(
    bounded: tuple[FastAPI, str], protocol: str
) -> None:
    _, address = bounded
    socket = await RawSocket.open(address, protocol)
    try:
        # Fragments of 5/8 of the limit each: the second one's header takes the message past it.
        part = SMALL * 5 // 8
        first = RawSocket.header(part, final=False) + b"x" * part
        await socket.send(first + RawSocket.header(part, opcode=0x0, final=False))
        assert await socket.close_code() == 1009
    finally:
        socket.abort()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_message_over_max_request_bytes_is_refused_by_the_app_under_any_server(
    app: FastAPI, settings: Settings, protocol: str
) -> None:
    """Served by a server that lets 16 MiB messages through (uvicorn's default), the app
    itself closes the socket on a message past the limit."""
    small = create_app(settings_for(settings.database_url, max_request_bytes=SMALL))
    lax = 16 * 1024 * 1024
    init = {"type": "connection_init", "payload": {"padding": "é" * (SMALL // 2)}}
    async with (
        small.router.lifespan_context(small),
        serving_in_loop(small, ws_max_size=lax) as address,
        open_socket(address, protocol) as socket,
    ):
        await socket.send(json.dumps(init, ensure_ascii=False))  # SMALL characters, more bytes
        with pytest.raises(ConnectionClosed) as closed:
            await TransportWs(socket).receive()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1009,
        f"Messages are limited to {SMALL} bytes",
    )


async def test_a_message_within_max_request_bytes_is_served(bounded: tuple[FastAPI, str]) -> None:
    _, address = bounded
    async with open_socket(address) as socket:
        await TransportWs(socket).init({"padding": "x" * (SMALL - 100)})


SUBSCRIBE = {"query": FITS, "variables": {"slug": "a"}}
MALFORMED: dict[str, tuple[object, str]] = {
    "an array": ([], "A message must be an object with a string type"),
    "a string": ("subscribe", "A message must be an object with a string type"),
    "no type": ({"id": "1"}, "A message must be an object with a string type"),
    "a number as type": ({"type": 1}, "A message must be an object with a string type"),
    "an object as id": (
        {"type": "subscribe", "id": {}, "payload": SUBSCRIBE},
        "A subscribe message needs a string id",
    ),
    "no id": ({"type": "subscribe", "payload": SUBSCRIBE}, "A subscribe message needs a string id"),
    "an object as id to complete": ({"type": "complete", "id": {}}, "A complete message needs a string id"),
    "a string as payload": (
        {"type": "subscribe", "id": "1", "payload": "x"},
        "The payload must be an object with a string query",
    ),
    "a number as query": (
        {"type": "start", "id": "1", "payload": {"query": 1}},
        "The payload must be an object with a string query",
    ),
    "an array as variables": (
        {"type": "subscribe", "id": "1", "payload": {**SUBSCRIBE, "variables": [1]}},
        "The payload's variables must be an object",
    ),
    "a number as operationName": (
        {"type": "subscribe", "id": "1", "payload": {**SUBSCRIBE, "operationName": 5}},
        "The payload's operationName must be a string",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_malformed_message_closes_the_socket_with_4400_and_no_server_error(
    limited: Served, protocol: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    message, reason = MALFORMED[case]
    async with open_socket(limited.address, protocol) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await socket.send(json.dumps(message))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4400, reason)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert listeners(limited.app) == 0


async def test_a_close_reason_quoting_a_long_id_is_cut_to_fit_a_close_frame(
    limited: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """graphql-transport-ws quotes a repeated id in its reason; a frame holds 123 bytes of it."""
    subscribe = {
        "id": "i" * 500,
        "type": "subscribe",
        "payload": {**SUBSCRIBE, "variables": {"slug": limited.slug}},
    }
    async with open_socket(limited.address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.send(subscribe)
        await ws.send(subscribe)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4409
    assert closed.value.rcvd.reason == ("Subscriber for " + "i" * 500)[:123]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@contextlib.asynccontextmanager
async def conduit_serve(settings: Settings, log: Path | None = None) -> AsyncIterator[tuple[str, int]]:
    """`conduit serve` in a subprocess, `MAX_REQUEST_BYTES` = `SMALL`, its stderr written to
    `log` if given; yields host:port and its pid."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "ENVIRONMENT": "test",
        "MAX_REQUEST_BYTES": str(SMALL),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)]
    stderr = log.open("wb") if log is not None else None
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=environment, start_new_session=True, stderr=stderr
    )
    try:
        address = f"127.0.0.1:{port}"
        await eventually_serving(process, f"http://{address}/health/live")
        yield address, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        if stderr is not None:
            stderr.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_conduit_serve_refuses_a_message_over_max_request_bytes_before_it_is_read(
    settings: Settings, protocol: str
) -> None:
    async with conduit_serve(settings) as (address, _):
        socket = await RawSocket.open(address, protocol)
        try:
            await socket.send(RawSocket.header(SMALL + 1) + b"x" * 1024)
            assert await socket.close_code() == 1009
        finally:
            socket.abort()


def resident_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        [line] = [line for line in status if line.startswith("VmRSS:")]
    return int(line.split()[1]) // 1024


async def test_conduit_serve_reads_no_further_from_a_client_that_floods_pings_and_reads_nothing(
    settings: Settings,
) -> None:
    """Every ping frame is answered with a pong; a client that never reads them cannot make
    the server keep them all: past a backlog the server stops reading. Unbounded, 100 MiB of
    pings made the server 110 MiB bigger (and went through in 10 s)."""
    ping = struct.pack("!BB", 0x89, 0x80 | 125) + bytes(4) + b"p" * 125
    async with conduit_serve(settings) as (address, pid):
        socket = await RawSocket.open(address, "graphql-transport-ws")
        before, sent = resident_mib(pid), 0
        try:
            with contextlib.suppress(TimeoutError):
                while sent < 64 * 1024 * 1024:
                    await asyncio.wait_for(socket.send(ping * 8192), 5)
                    sent += len(ping) * 8192
            grown = resident_mib(pid) - before
        finally:
            socket.abort()
        assert sent < 32 * 1024 * 1024, "the server kept reading pings it could not answer"
        assert grown < 24, f"the server grew by {grown} MiB"
        async with open_socket(address) as fresh:  # and it serves on
            await TransportWs(fresh).init()


async def eventually_serving(process: asyncio.subprocess.Process, url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            assert process.returncode is None, f"the server exited with {process.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url, timeout=1)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer in 30 s")


@pytest.mark.parametrize("operation", ["query { __typename }", "mutation { __typename }"])
async def test_a_query_or_mutation_over_graphql_ws_is_a_bad_request_not_a_server_error(
    limited: Served, operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_socket(limited.address, "graphql-ws") as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.send({"id": "1", "type": "start", "payload": {"query": operation}})
        message = await ws.receive()
    assert message == {
        "type": "error",
        "id": "1",
        "payload": {
            "message": "graphql-ws serves subscriptions only: send queries and mutations over HTTP "
            "or graphql-transport-ws.",
            "extensions": {"code": "BAD_REQUEST"},
        },
    }
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_conduit_serve_closes_on_text_that_is_not_utf8_without_logging_an_error(
    settings: Settings, tmp_path: Path
) -> None:
    """uvicorn logged an error with a traceback for each such message: any client could."""
    log = tmp_path / "stderr"
    async with conduit_serve(settings, log) as (address, _):
        socket = await RawSocket.open(address, "graphql-transport-ws")
        try:
            await socket.send(RawSocket.header(2) + b"\xff\xfe")
            assert await socket.close_code() == 1007
        finally:
            socket.abort()
    errors = [line for line in log.read_text().splitlines() if '"level":"error"' in line]
    assert errors == []
