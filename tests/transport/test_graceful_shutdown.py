"""SIGTERM to `conduit serve`: a request in flight is answered, a live subscription is closed
with 1012 (Service Restart, which graphql-ws clients reconnect on), and the process ends."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from db.settings import Settings
from tests.support.servers import conduit_serve

CREATE = (
    'mutation { createArticle(input: {title: "Stay", description: "d", body: "b"}) { article { slug } } }'
)
SUBSCRIBE = "subscription($slug: String!) { commentAdded(articleSlug: $slug) { body } }"
COMMENT = (
    'mutation($slug: String!) { addComment(input: {articleSlug: $slug, body: "hi"}) { comment { id } } }'
)
REGISTER = (
    'mutation { register(input: {username: "stayer", email: "stayer@example.com", '
    'password: "password123"}) { token } }'
)


def gql(base: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response.json()["data"]


async def test_sigterm_drains_requests_and_closes_subscriptions_with_1012(
    app: FastAPI, settings: Settings
) -> None:
    """`app` empties the tables first: the server sees only this test's rows."""
    with conduit_serve(settings.database_url, SHUTDOWN_TIMEOUT_SECONDS="10") as (base, process):
        token = gql(base, REGISTER)["register"]["token"]
        slug = gql(base, CREATE, token=token)["createArticle"]["article"]["slug"]
        host, port = base.removeprefix("http://").split(":")
        async with connect(f"ws://{host}:{port}/graphql", subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            subscribe = {"query": SUBSCRIBE, "variables": {"slug": slug}}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
            while True:  # live once a comment comes through
                await asyncio.to_thread(gql, base, COMMENT, {"slug": slug}, token)
                try:
                    message = json.loads(await asyncio.wait_for(socket.recv(), 1))
                except TimeoutError:
                    continue
                assert message["type"] == "next"
                break

            # A request in flight: its head and half its body sent when the signal comes.
            body = json.dumps({"query": "{ articles(first: 1) { totalCount } }"}).encode()
            reader, writer = await asyncio.open_connection(host, int(port))
            head = f"POST /graphql HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            writer.write(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body[:10])
            await writer.drain()
            await asyncio.sleep(0.3)
            process.send_signal(signal.SIGTERM)

            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
            await asyncio.sleep(0.5)
            writer.write(body[10:])
            await writer.drain()
            response = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        status, _, rest = response.partition(b"\r\n")
        assert status == b"HTTP/1.1 200 OK"
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["data"] == {"articles": {"totalCount": 1}}
        # uvicorn re-raises the signal once it has shut down, so the exit status says SIGTERM.
        assert await asyncio.to_thread(process.wait, 15) == -signal.SIGTERM
