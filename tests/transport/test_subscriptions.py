"""Subscription.commentAdded over WebSockets, on a real uvicorn server in the test's event loop.

Both protocols (graphql-transport-ws and the legacy graphql-ws), connection_init auth, the
settings that guard the socket, only committed comments announced, and nothing left behind
(listeners, queues, tasks) once a subscriber goes away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import db.articles
import db.comments
from db.events import CHANNEL, PostgresCommentEvents
from db.settings import Settings
from graph.app import create_app
from graph.node import to_global_id
from tests.support.engines import settings_for
from tests.support.gql import gql, register
from tests.support.servers import serving_in_loop

CREATE_ARTICLE = """
mutation CreateArticle($input: CreateArticleInput!) {
  createArticle(input: $input) { article { id slug } errors { message } }
}
"""
ADD_COMMENT = """
mutation AddComment($input: AddCommentInput!) {
  addComment(input: $input) { comment { id body } errors { message } }
}
"""
COMMENT_ADDED = """
subscription CommentAdded($slug: String!) {
  commentAdded(articleSlug: $slug) { id body author { username } article { slug } }
}
"""


async def eventually(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def article_by(client: httpx.AsyncClient, username: str) -> tuple[str, str]:
    """A new user with one article; returns (token, slug)."""
    token = await register(client, username)
    body = {"title": f"Talk of {username}", "description": "d", "body": "b"}
    result = await gql(client, CREATE_ARTICLE, {"input": body}, token)
    slug: str = result["data"]["createArticle"]["article"]["slug"]
    return token, slug


AUTHOR_FOLLOWED = (
    "subscription S($slug: String!) { commentAdded(articleSlug: $slug) { author { following } } }"
)


async def followed_writer(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """A writer with one article, and a reader following them: (writer's token, slug, reader's)."""
    token, slug = await article_by(client, "writer")
    reader = await register(client, "reader")
    follow = 'mutation F { followUser(username: "writer") { errors { message } } }'
    assert (await gql(client, follow, token=reader))["data"]["followUser"]["errors"] == []
    return token, slug, reader


async def add_comment(client: httpx.AsyncClient, token: str, slug: str, body: str) -> str:
    result = await gql(client, ADD_COMMENT, {"input": {"articleSlug": slug, "body": body}}, token)
    payload = result["data"]["addComment"]
    assert payload["errors"] == [], payload
    comment_id: str = payload["comment"]["id"]
    return comment_id


class TransportWs:
    """A minimal graphql-transport-ws client."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, seconds: float = 30) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.socket.recv(), seconds)
        assert isinstance(frame, str), "both protocols send text frames; browsers choke on binary"
        message: dict[str, Any] = json.loads(frame)
        return message

    async def init(self, payload: dict[str, Any] | None = None) -> None:
        await self.send({"type": "connection_init", "payload": payload or {}})
        assert await self.receive() == {"type": "connection_ack"}

    async def subscribe(self, operation_id: str, slug: str) -> None:
        await self.send(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": COMMENT_ADDED, "variables": {"slug": slug}},
            }
        )


@pytest.fixture
async def address(app: FastAPI) -> AsyncIterator[str]:
    async with serving_in_loop(app) as host_port:
        yield host_port


@pytest.fixture
def listeners(app: FastAPI) -> Callable[[], int]:
    return lambda: int(app.state.services.events.listener_count)


def open_socket(address: str, protocol: str = "graphql-transport-ws", **kwargs: Any) -> Any:
    return connect(f"ws://{address}/graphql", subprotocols=[protocol], **kwargs)  # type: ignore[list-item]


async def test_subscriber_receives_a_committed_comment_and_leaves_nothing_behind(
    client: httpx.AsyncClient, address: str, listeners: Callable[[], int]
) -> None:
    token, slug = await article_by(client, "writer")
    tasks_before = asyncio.all_tasks()
    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.subscribe("1", slug)
        await eventually(lambda: listeners() == 1, "the subscription to listen")
        comment_id = await add_comment(client, token, slug, "first!")
        message = await ws.receive()
        assert (message["id"], message["type"]) == ("1", "next")
        assert message["payload"]["data"] == {
            "commentAdded": {
                "id": comment_id,
                "body": "first!",
                "author": {"username": "writer"},
                "article": {"slug": slug},
            }
        }
    # The client went away without completing: the server cleans up all the same.
    await eventually(lambda: listeners() == 0, "the listener to be removed")
    await eventually(
        lambda: not [t for t in asyncio.all_tasks() - tasks_before if not t.done()],
        "the connection's tasks to end",
    )


async def test_complete_stops_one_subscription_and_the_socket_stays_usable(
    client: httpx.AsyncClient, address: str, listeners: Callable[[], int]
) -> None:
    token, slug = await article_by(client, "writer")
    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.subscribe("a", slug)
        await ws.subscribe("b", slug)
        await eventually(lambda: listeners() == 2, "two listeners")
        await ws.send({"id": "a", "type": "complete"})
        await eventually(lambda: listeners() == 1, "one listener")
        await add_comment(client, token, slug, "only b hears this")
        message = await ws.receive()
        assert message["id"] == "b"
        assert message["payload"]["data"]["commentAdded"]["body"] == "only b hears this"
        with pytest.raises(TimeoutError):
            await ws.receive(seconds=0.3)
    await eventually(lambda: listeners() == 0, "no listener")


async def test_comments_arrive_in_order_exactly_once(
    client: httpx.AsyncClient, address: str, listeners: Callable[[], int]
) -> None:
    token, slug = await article_by(client, "writer")
    _, other_slug = await article_by(client, "other")
    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.subscribe("1", slug)
        await eventually(lambda: listeners() == 1, "the subscription to listen")
        for n in range(10):
            await add_comment(client, token, slug, f"comment {n}")
            await add_comment(client, token, other_slug, f"elsewhere {n}")
        bodies = [(await ws.receive())["payload"]["data"]["commentAdded"]["body"] for _ in range(10)]
        assert bodies == [f"comment {n}" for n in range(10)]
        with pytest.raises(TimeoutError):
            await ws.receive(seconds=0.3)


async def test_legacy_graphql_ws_protocol(
    client: httpx.AsyncClient, address: str, listeners: Callable[[], int]
) -> None:
    token, slug = await article_by(client, "writer")
    async with open_socket(address, "graphql-ws") as socket:
        assert socket.subprotocol == "graphql-ws"
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        start = {"query": COMMENT_ADDED, "variables": {"slug": slug}}
        await socket.send(json.dumps({"id": "7", "type": "start", "payload": start}))
        await eventually(lambda: listeners() == 1, "the subscription to listen")
        await add_comment(client, token, slug, "legacy hello")
        message = json.loads(await asyncio.wait_for(socket.recv(), 30))
        assert message["type"] == "data" and message["id"] == "7"
        assert message["payload"]["data"]["commentAdded"]["body"] == "legacy hello"
        await socket.send(json.dumps({"id": "7", "type": "stop"}))
        await eventually(lambda: listeners() == 0, "the listener to be removed on stop")


async def test_unknown_article_is_a_bad_user_input_error(address: str, listeners: Callable[[], int]) -> None:
    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.subscribe("1", "no-such-article")
        message = await ws.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["message"] == "no article has the slug 'no-such-article'"
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert listeners() == 0


async def test_connection_init_token_signs_in_and_a_bad_one_is_refused(
    client: httpx.AsyncClient, address: str, listeners: Callable[[], int]
) -> None:
    token, slug, reader = await followed_writer(client)
    query = AUTHOR_FOLLOWED
    async with open_socket(address) as signed_in, open_socket(address) as anonymous:
        for socket, payload in ((signed_in, {"Authorization": f"Bearer {reader}"}), (anonymous, None)):
            ws = TransportWs(socket)
            await ws.init(payload)
            await ws.send(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"slug": slug}}}
            )
        await eventually(lambda: listeners() == 2, "both subscriptions to listen")
        await add_comment(client, token, slug, "hello")
        seen_by_reader = (await TransportWs(signed_in).receive())["payload"]["data"]
        seen_by_anonymous = (await TransportWs(anonymous).receive())["payload"]["data"]
        assert seen_by_reader == {"commentAdded": {"author": {"following": True}}}
        assert seen_by_anonymous == {"commentAdded": {"author": {"following": False}}}

    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.send({"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_guard_settings(settings: Settings) -> None:
    app = create_app(
        settings_for(
            settings.database_url,
            ws_connection_init_timeout_seconds=0.2,
            ws_max_subscriptions_per_connection=1,
            ws_allowed_origins="https://app.example, https://other.example",
        )
    )
    async with app.router.lifespan_context(app), serving_in_loop(app) as address:
        # No connection_init in time: closed with 4408.
        async with open_socket(address) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408

        # A second subscription on the same socket is refused.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            _, slug = await article_by(client, f"guard{time.monotonic_ns()}")
        async with open_socket(address) as socket:
            ws = TransportWs(socket)
            await ws.init()
            await ws.subscribe("1", slug)
            await ws.subscribe("2", slug)
            message = await ws.receive()
            assert message["type"] == "error" and message["id"] == "2"
            assert message["payload"][0]["message"] == "Subscription limit reached"

        # Browsers on other origins: only the allowed ones.
        async with open_socket(address, origin="https://other.example") as socket:  # type: ignore[arg-type]
            await TransportWs(socket).init()
        with pytest.raises(InvalidStatus) as refused:
            async with open_socket(address, origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403


async def test_only_committed_comments_are_announced(app: FastAPI, client: httpx.AsyncClient) -> None:
    token, slug = await article_by(client, "writer")
    services = app.state.services
    author_id, article_id = await _ids(app, slug)

    class Rollback(Exception):
        pass

    async with services.events.listen(article_id) as queue:
        rolled_back: list[int] = []

        async def add_then_fail() -> None:
            async with services.database.unit_of_work() as session:
                row = await db.comments.create(session, author_id=author_id, article_slug=slug, body="never")
                await services.events.publish(session, article_id=article_id, comment_id=row.id)
                rolled_back.append(row.id)
                raise Rollback

        with pytest.raises(Rollback):
            await add_then_fail()
        committed = await add_comment(client, token, slug, "kept")
        received = await asyncio.wait_for(queue.get(), 30)
        await asyncio.sleep(0.2)
        assert queue.empty(), "the rolled-back comment was announced"
    assert to_global_id("Comment", received) == committed
    assert rolled_back


async def _ids(app: FastAPI, slug: str) -> tuple[int, int]:
    async with app.state.services.database.read_session() as session:
        article = await db.articles.get_by_slug(session, slug)
        assert article is not None
        return article.author_id, article.id


async def test_postgres_listener_reconnects_and_resyncs(
    client: httpx.AsyncClient, address: str, app: FastAPI, engine_name: str, settings: Settings
) -> None:
    if engine_name != "postgresql":
        # SQLite has no LISTEN connection to lose; the in-process broker is what it uses.
        assert type(app.state.services.events).__name__ == "InProcessCommentEvents"
        return
    events: PostgresCommentEvents = app.state.services.events
    token, slug = await article_by(client, "writer")
    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.subscribe("1", slug)
        await eventually(lambda: events.listener_count == 1, "the subscription to listen")
        connects = events.connects
        await _terminate_listener(settings.database_url)
        # Committed while the listener may be down: delivered after the reconnection's resync.
        await add_comment(client, token, slug, "during the outage")
        await eventually(lambda: events.connects == connects + 1, "the listener to reconnect")
        await add_comment(client, token, slug, "after the outage")
        bodies = [(await ws.receive())["payload"]["data"]["commentAdded"]["body"] for _ in range(2)]
        assert bodies == ["during the outage", "after the outage"]
        with pytest.raises(TimeoutError):
            await ws.receive(seconds=0.3)


async def _terminate_listener(database_url: str) -> None:
    url = make_url(database_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    try:
        terminated = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE $1",
            f'%LISTEN "{CHANNEL}"%',
        )
        assert terminated == 1
    finally:
        await connection.close()
