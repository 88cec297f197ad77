"""GraphQL over Server-Sent Events (graphql-sse) on /graphql/stream, over a real uvicorn server.

Both modes of the protocol, the same limits, auth and origin rules as the WebSocket, keep-alive
comments, and nothing left behind (listeners, tasks, streams) once a client goes away or the
server shuts down.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from db.settings import Settings
from graph.app import create_app
from tests.support.engines import settings_for
from tests.support.gql import gql, register
from tests.support.servers import server_process, serving_in_loop
from tests.transport.test_subscriptions import (
    AUTHOR_FOLLOWED,
    COMMENT_ADDED,
    add_comment,
    article_by,
    eventually,
    followed_writer,
)

TOKEN = "x-graphql-event-stream-token"
STREAM = "/graphql/stream"
ACCEPT_EVENTS = {"accept": "text/event-stream"}


class Events:
    """The events of one open stream, parsed as the SSE spec (and graphql-sse's parser) reads them."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, seconds: float = 30) -> tuple[str, Any]:
        """The next event's name and its data (decoded JSON, None when empty)."""
        name, data = "", ""
        while True:
            line = await asyncio.wait_for(anext(self.lines), seconds)
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data = line.partition(":")[2].strip()
            elif line == "" and name:
                return name, json.loads(data) if data else None

    async def ended(self, seconds: float = 30) -> bool:
        """Whether the stream ends (having sent no further event) within `seconds`."""
        try:
            while True:
                line = await asyncio.wait_for(anext(self.lines), seconds)
                assert not line.startswith(("event:", "data:")), f"an event came instead: {line}"
        except StopAsyncIteration:
            return True


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serving_in_loop(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        yield client


@pytest.fixture
def listeners(app: FastAPI) -> Callable[[], int]:
    return lambda: int(app.state.services.events.listener_count)


@asynccontextmanager
async def served(settings: Settings, **overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app of its own, with these settings, on a real server, and a client of it."""
    app = create_app(settings_for(settings.database_url, **overrides))
    async with (
        app.router.lifespan_context(app),
        serving_in_loop(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        yield app, http


@asynccontextmanager
async def distinct(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> AsyncIterator[Events]:
    body = {"query": query, "variables": variables or {}}
    async with http.stream("POST", STREAM, json=body, headers={**ACCEPT_EVENTS, **headers}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache, no-transform"
        yield Events(response)


@asynccontextmanager
async def single(http: httpx.AsyncClient, **headers: str) -> AsyncIterator[tuple[str, Events]]:
    reserved = await http.put(STREAM, headers=headers)
    assert reserved.status_code == 201, reserved.text
    assert reserved.headers["content-type"].startswith("text/plain")
    token = reserved.text
    async with http.stream("GET", STREAM, headers={**ACCEPT_EVENTS, **headers, TOKEN: token}) as response:
        assert response.status_code == 200
        yield token, Events(response)


async def post_operation(
    http: httpx.AsyncClient,
    token: str,
    operation_id: str,
    query: str,
    variables: dict[str, Any],
    **headers: str,
) -> httpx.Response:
    body = {"query": query, "variables": variables, "extensions": {"operationId": operation_id}}
    return await http.post(STREAM, json=body, headers={TOKEN: token, **headers})


async def test_distinct_connections_stream_comments_and_leave_nothing_behind(
    app: FastAPI, client: httpx.AsyncClient, http: httpx.AsyncClient, listeners: Callable[[], int]
) -> None:
    token, slug = await article_by(client, "writer")
    tasks_before = asyncio.all_tasks()
    async with distinct(http, COMMENT_ADDED, {"slug": slug}) as events:
        await eventually(lambda: listeners() == 1, "the subscription to listen")
        first = await add_comment(client, token, slug, "first!")
        second = await add_comment(client, token, slug, "second")
        assert await events.next() == (
            "next",
            {
                "data": {
                    "commentAdded": {
                        "id": first,
                        "body": "first!",
                        "author": {"username": "writer"},
                        "article": {"slug": slug},
                    }
                }
            },
        )
        name, data = await events.next()
        assert (name, data["data"]["commentAdded"]["id"]) == ("next", second)
        assert events.comments == [":"]  # the opening comment, nothing else
    # The client closed the stream without a word: the server cleans up all the same.
    await eventually(lambda: listeners() == 0, "the listener to be removed")
    pool = app.state.services.database.engine.pool
    await eventually(lambda: pool.checkedout() == 0, "every connection back in the pool")
    await eventually(
        lambda: not [t for t in asyncio.all_tasks() - tasks_before if not t.done()],
        "the stream's tasks to end",
    )


async def test_a_query_streams_one_result_then_complete_and_errors_come_as_events(
    client: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    await register(client, "someone")
    async with distinct(http, '{ user(username: "someone") { username } }') as events:
        assert await events.next() == ("next", {"data": {"user": {"username": "someone"}}})
        assert await events.next() == ("complete", None)
        assert await events.ended()
    async with http.stream("GET", STREAM, params={"query": "{ __typename }"}, headers=ACCEPT_EVENTS) as got:
        events = Events(got)
        assert await events.next() == ("next", {"data": {"__typename": "Query"}})
        assert await events.next() == ("complete", None)
    # Refusals of the operation itself are events, as the protocol wants (a client's EventSource
    # would see nothing of a 400), coded as everywhere.
    for query, variables, code in [
        ("{ nope }", {}, "GRAPHQL_VALIDATION_FAILED"),
        ("{ __typename ", {}, "GRAPHQL_PARSE_FAILED"),
        (COMMENT_ADDED, {"slug": "no-such-article"}, "BAD_USER_INPUT"),
        (COMMENT_ADDED, {}, "BAD_USER_INPUT"),
    ]:
        async with distinct(http, query, variables) as events:
            name, data = await events.next()
            assert name == "next" and [e["extensions"]["code"] for e in data["errors"]] == [code], data
            assert await events.next() == ("complete", None)
            assert await events.ended()


async def test_mutations_over_a_stream_commit_and_a_mutation_over_get_is_refused(
    client: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    token, slug = await article_by(client, "writer")
    add = """
    mutation A($input: AddCommentInput!) { addComment(input: $input) { comment { body } errors { code } } }
    """
    variables = {"input": {"articleSlug": slug, "body": "over SSE"}}
    async with distinct(http, add, variables, authorization=f"Bearer {token}") as events:
        assert await events.next() == (
            "next",
            {"data": {"addComment": {"comment": {"body": "over SSE"}, "errors": []}}},
        )
    read = "query R($slug: String!) { article(slug: $slug) { comments { nodes { body } } } }"
    stored = await gql(client, read, {"slug": slug})
    assert stored["data"]["article"]["comments"]["nodes"] == [{"body": "over SSE"}]
    response = await http.get(STREAM, params={"query": "mutation { __typename }"}, headers=ACCEPT_EVENTS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("method", "headers", "content", "status", "code"),
    [
        ("POST", ACCEPT_EVENTS, b"{not json", 400, "BAD_REQUEST"),
        ("POST", ACCEPT_EVENTS, b"[]", 400, "BAD_REQUEST"),
        (
            "POST",
            ACCEPT_EVENTS,
            b'{"query": "{ __typename }", "variables": ' + b"[" * 40 + b"]" * 40 + b"}",
            400,
            "BAD_REQUEST",
        ),
        (
            "POST",
            {"accept": "text/event-stream", "content-type": "text/plain"},
            b"{}",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        ("POST", {"accept": "application/json"}, b'{"query": "{ __typename }"}', 406, "BAD_REQUEST"),
        ("DELETE", {}, b"", 404, "NOT_FOUND"),
        ("PATCH", {}, b"", 405, "METHOD_NOT_ALLOWED"),
        ("POST", {TOKEN: "no-such-token"}, b'{"query": "{ __typename }"}', 404, "NOT_FOUND"),
        ("GET", {**ACCEPT_EVENTS, TOKEN: "no-such-token"}, b"", 404, "NOT_FOUND"),
    ],
)
async def test_requests_refused_before_any_stream_are_json_errors(
    http: httpx.AsyncClient, method: str, headers: dict[str, str], content: bytes, status: int, code: str
) -> None:
    headers = {"content-type": "application/json", **headers}
    response = await http.request(method, STREAM, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]
    if status == 405:
        assert response.headers["allow"] == "GET, POST, PUT, DELETE, OPTIONS"


async def test_single_connection_mode_runs_operations_on_one_stream(
    client: httpx.AsyncClient, http: httpx.AsyncClient, listeners: Callable[[], int]
) -> None:
    token, slug = await article_by(client, "writer")
    tasks_before = asyncio.all_tasks()
    async with single(http) as (stream_token, events):
        assert (
            await post_operation(http, stream_token, "a", COMMENT_ADDED, {"slug": slug})
        ).status_code == 202
        assert (
            await post_operation(http, stream_token, "b", COMMENT_ADDED, {"slug": slug})
        ).status_code == 202
        assert (
            await post_operation(http, stream_token, "a", COMMENT_ADDED, {"slug": slug})
        ).status_code == 409
        await eventually(lambda: listeners() == 2, "both subscriptions to listen")
        comment = await add_comment(client, token, slug, "to both")
        received = {}
        for _ in range(2):
            name, data = await events.next()
            assert name == "next"
            received[data["id"]] = data["payload"]["data"]["commentAdded"]["id"]
        assert received == {"a": comment, "b": comment}
        stopped = await http.delete(STREAM, params={"operationId": "a"}, headers={TOKEN: stream_token})
        assert stopped.status_code == 200
        await eventually(lambda: listeners() == 1, "a to stop listening")
        await add_comment(client, token, slug, "to b alone")
        name, data = await events.next()
        assert (name, data["id"]) == ("next", "b")
        # A query on the same stream: its result, then its complete.
        assert (await post_operation(http, stream_token, "q", "{ __typename }", {})).status_code == 202
        assert await events.next() == ("next", {"id": "q", "payload": {"data": {"__typename": "Query"}}})
        assert await events.next() == ("complete", {"id": "q"})
        # The token opens one stream at a time.
        again = await http.get(STREAM, headers={**ACCEPT_EVENTS, TOKEN: stream_token})
        assert again.status_code == 409
        missing_id = await http.post(STREAM, json={"query": "{ __typename }"}, headers={TOKEN: stream_token})
        assert missing_id.status_code == 400
    await eventually(lambda: listeners() == 0, "every operation of the stream to stop")
    await eventually(
        lambda: not [t for t in asyncio.all_tasks() - tasks_before if not t.done()],
        "the stream's tasks to end",
    )
    # The token was for one stream: once closed, it is gone.
    assert (await post_operation(http, stream_token, "c", "{ __typename }", {})).status_code == 404


async def test_a_bad_token_is_refused_and_a_good_one_signs_the_stream_in(
    client: httpx.AsyncClient, http: httpx.AsyncClient, listeners: Callable[[], int]
) -> None:
    token, slug, reader = await followed_writer(client)
    query = AUTHOR_FOLLOWED
    signed_in = {"authorization": f"Bearer {reader}"}
    async with (
        distinct(http, query, {"slug": slug}, **signed_in) as as_reader,
        distinct(http, query, {"slug": slug}) as anonymous,
        single(http, **signed_in) as (stream_token, on_stream),
    ):
        response = await post_operation(http, stream_token, "1", query, {"slug": slug}, **signed_in)
        assert response.status_code == 202
        await eventually(lambda: listeners() == 3, "three subscriptions to listen")
        await add_comment(client, token, slug, "hello")
        assert await as_reader.next() == ("next", {"data": {"commentAdded": {"author": {"following": True}}}})
        assert await anonymous.next() == (
            "next",
            {"data": {"commentAdded": {"author": {"following": False}}}},
        )
        assert (await on_stream.next())[1]["payload"]["data"] == {
            "commentAdded": {"author": {"following": True}}
        }
        # The stream is the reader's: another viewer, or nobody, may not run operations on it.
        for other in ({"authorization": f"Bearer {token}"}, {}):
            refused = await post_operation(http, stream_token, "2", query, {"slug": slug}, **other)
            assert refused.status_code == 403
            assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A bad token is never served as anonymous: 401 before any stream, as the socket is closed.
    for bad in ("Bearer not-a-token", "Basic abc"):
        for method, headers, body in [
            ("POST", ACCEPT_EVENTS, {"query": "{ __typename }"}),
            ("PUT", {}, None),
            ("GET", {**ACCEPT_EVENTS}, None),
        ]:
            response = await http.request(
                method, STREAM, json=body, headers={**headers, "authorization": bad}
            )
            assert response.status_code == 401, (method, response.text)
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_operation_limits_keep_alive_and_reservation_timeout(settings: Settings) -> None:
    limits = {"ws_connection_init_timeout_seconds": 0.3, "max_query_depth": 3, "sse_keepalive_seconds": 0.2}
    async with served(settings, **limits) as (_, http):
        deep = "{ viewer { user { articles { nodes { author { username } } } } } }"
        async with distinct(http, deep) as events:
            name, data = await events.next()
            assert name == "next" and data["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        async with single(http) as (stream_token, events):
            deep_on_stream = await post_operation(http, stream_token, "1", deep, {})
            assert deep_on_stream.status_code == 202
            name, data = await events.next()
            assert data["payload"]["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
            assert await events.next() == ("complete", {"id": "1"})
            # An idle stream gets keep-alive comments.
            events.comments.clear()
            await asyncio.sleep(0.7)
            assert (await post_operation(http, stream_token, "2", "{ __typename }", {})).status_code == 202
            await events.next()
            assert events.comments.count(": keep-alive") >= 2
        # A reservation not opened in time is dropped.
        reserved = (await http.put(STREAM)).text
        await asyncio.sleep(0.6)
        late = await http.get(STREAM, headers={**ACCEPT_EVENTS, TOKEN: reserved})
        assert late.status_code == 404


async def test_a_stream_holds_as_many_operations_as_a_socket(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    _, slug = await article_by(client, "writer")
    async with (
        served(settings, ws_max_subscriptions_per_connection=2) as (app, http),
        single(http) as (stream_token, events),
    ):
        for operation_id in ("1", "2", "3"):
            response = await post_operation(http, stream_token, operation_id, COMMENT_ADDED, {"slug": slug})
            assert response.status_code == 202
        assert await events.next() == (
            "next",
            {"id": "3", "payload": {"errors": [{"message": "Subscription limit reached"}]}},
        )
        assert await events.next() == ("complete", {"id": "3"})
        await eventually(lambda: app.state.services.events.listener_count == 2, "two subscriptions")


async def test_other_origins_are_refused_unless_allowed_as_for_websockets(settings: Settings) -> None:
    async with served(settings, ws_allowed_origins="https://app.example") as (_, http):
        address = http.base_url.netloc.decode()
        body = {"query": "{ __typename }"}
        for origin, status in [
            ("https://evil.example", 403),
            ("null", 403),
            ("https://app.example", 200),
            (f"http://{address}", 200),  # the page's own origin
        ]:
            response = await http.post(STREAM, json=body, headers={**ACCEPT_EVENTS, "origin": origin})
            assert response.status_code == status, origin
            reserved = await http.put(STREAM, headers={"origin": origin})
            assert reserved.status_code == (201 if status == 200 else 403)
        refused = await http.put(STREAM, headers={"origin": "https://evil.example"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        # A browser's preflight learns the stream's methods and its token header.
        preflight = {
            "origin": "https://app.example",
            "access-control-request-method": "PUT",
            "access-control-request-headers": TOKEN,
        }
        answer = await http.options(STREAM, headers=preflight)
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert answer.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE, OPTIONS"
        assert TOKEN in answer.headers["access-control-allow-headers"].lower()
        assert (
            await http.options(STREAM, headers={**preflight, "origin": "https://evil.example"})
        ).status_code == 403
    # By default (no WS_ALLOWED_ORIGINS) only the same origin and non-browser clients may.
    async with served(settings) as (_, http):
        assert (await http.put(STREAM, headers={"origin": "https://app.example"})).status_code == 403
        assert (await http.put(STREAM)).status_code == 201


async def test_a_graceful_shutdown_ends_open_streams(client: httpx.AsyncClient, settings: Settings) -> None:
    """uvicorn waits for every response in progress before it stops: a subscription's stream
    would hold it forever. `conduit serve`'s protocol ends the streams, without `complete`."""
    _, slug = await article_by(client, "writer")
    with server_process(settings.database_url) as (base, process):
        async with (
            httpx.AsyncClient(base_url=base) as http,
            distinct(http, COMMENT_ADDED, {"slug": slug}) as events,
            single(http) as (stream_token, on_stream),
        ):
            response = await post_operation(http, stream_token, "1", COMMENT_ADDED, {"slug": slug})
            assert response.status_code == 202
            await asyncio.sleep(0.5)
            started = time.monotonic()
            os.killpg(process.pid, signal.SIGTERM)
            assert await events.ended(seconds=10)
            assert await on_stream.ended(seconds=10)
        # uvicorn, having shut down, raises the signal it caught again: the exit status says so.
        assert await asyncio.to_thread(process.wait, 10) == -signal.SIGTERM
        assert time.monotonic() - started < 10
