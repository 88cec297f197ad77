"""graph/transport/protocol.py: a response leaves in one write, and joining writes loses or delays nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from graph.transport.protocol import HttpProtocol, JoiningTransport
from tests.support.servers import serving_in_loop

REQUEST = (
    b"POST /graphql HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
)


class Socket(asyncio.Transport):
    """A transport that records what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def one_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_go_out_as_one_at_its_end() -> None:
    socket = Socket()
    joined = JoiningTransport(socket, asyncio.get_running_loop())
    joined.write(b"head ")
    joined.write(memoryview(b"body"))
    assert socket.writes == []
    assert joined.get_write_buffer_size() == len(b"head body")
    await one_turn()
    assert socket.writes == [b"head body"]
    joined.write(b"next")
    await one_turn()
    assert socket.writes == [b"head body", b"next"]


async def test_closing_sends_what_was_written_first() -> None:
    socket = Socket()
    joined = JoiningTransport(socket, asyncio.get_running_loop())
    joined.write(b"last words")
    joined.close()
    assert (socket.writes, socket.closed) == ([b"last words"], True)
    await one_turn()
    assert socket.writes == [b"last words"]


async def test_aborting_drops_what_was_not_sent() -> None:
    socket = Socket()
    joined = JoiningTransport(socket, asyncio.get_running_loop())
    joined.write(b"never")
    joined.abort()
    await one_turn()
    assert (socket.writes, socket.aborted) == ([], True)


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"7")]})
    await send({"type": "http.response.body", "body": b"answer!"})


@pytest.mark.parametrize(
    ("protocol", "writes"), [(HttpProtocol, 1), (HttpToolsProtocol, 2)], ids=["joined", "uvicorn's own"]
)
async def test_a_response_leaves_in_one_write(protocol: type[HttpToolsProtocol], writes: int) -> None:
    """uvicorn's own protocol writes the headers and the body apart; this one, once."""
    config = Config(answer, log_level="warning")
    config.load()
    served = protocol(config, ServerState(), {})
    socket = Socket()
    served.connection_made(socket)
    served.data_received(REQUEST)
    for _ in range(10):
        await one_turn()
    assert len(socket.writes) == writes
    response = b"".join(socket.writes)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"\r\n\r\nanswer!")
    served.connection_lost(None)


async def test_the_app_answers_over_a_kept_alive_connection(app: FastAPI) -> None:
    async with serving_in_loop(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        for _ in range(3):
            response = await client.post("/graphql", json={"query": "{ __typename }"})
            assert response.json() == {"data": {"__typename": "Query"}}
        assert response.headers["content-type"].startswith("application/")
