"""The per-request deadline: past REQUEST_TIMEOUT_SECONDS the client gets 504 REQUEST_TIMEOUT, the
operation is cancelled, its transaction rolled back, and its connections go back to the pool.

A slow database, honestly: on PostgreSQL a TCP proxy holds back every answer of the server
(tests/support/proxy.py), so each statement is slow but within its own timeout, and a mutation of 20
tags, a few dozen statements, would take many times the deadline. SQLite has no network: its
slow database is a writer of another process holding the write lock, which the mutation
waits on (within its busy timeout); its reads are never held up (WAL), so the read through
the query lane is timed on PostgreSQL alone.

Bounds are generous (the machine is busy): the answer must come well before the work would
have ended, not at a precise time.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import make_url

from db.settings import Settings
from graph.app import create_app
from graph.transport.view import GRAPHQL_RESPONSE_JSON
from tests.support.engines import engine_url, settings_for
from tests.support.factories import CREATE_ARTICLE, add_comment, article_input, count_rows, favorite
from tests.support.gql import gql, register
from tests.support.proxy import Proxy
from tests.support.servers import serving_in_loop

DEADLINE = 2.0  # small, but not so small that the fast requests around it meet it
LATENCY = 1.0
TAGS = [f"tag{n}" for n in range(20)]
TIMED_OUT = {
    "errors": [
        {
            "message": "The request took longer than 2 s, the limit: "
            "it was stopped, and nothing it wrote was kept.",
            "extensions": {"code": "REQUEST_TIMEOUT"},
        }
    ]
}
DEEP_READ = """
{ nodes(ids: ["VXNlcjox"]) { id }
  articles(first: 5) { totalCount edges { node { title tagList favorited author { username following
  followersCount favorites(first: 2) { totalCount }
  articles(first: 2) { totalCount edges { node { comments(first: 2) { totalCount nodes { author {
    favorites(first: 2) { totalCount nodes { comments(first: 1) { totalCount } } } } } } } } }
} } } } }
"""
"""Six statements (one per list: a level's counts, flags, tags and authors come with it), each
held up by the latency once the database is slowed down: `nodes` keeps the query level by level
(PostgreSQL would build the rest in one statement, graph/execution/compiled.py)."""


class Slow:
    """An app on a database that can be made slow, and be fast again."""

    app: FastAPI
    client: httpx.AsyncClient

    async def slow_down(self) -> None:
        raise NotImplementedError

    async def speed_up(self) -> None:
        raise NotImplementedError


class ProxiedPostgres(Slow):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def slow_down(self) -> None:
        self.proxy.latency = LATENCY

    async def speed_up(self) -> None:
        self.proxy.latency = 0.0


class LockedSqlite(Slow):
    def __init__(self, url: str) -> None:
        self.path = str(make_url(url).database)
        self.writer: sqlite3.Connection | None = None

    async def slow_down(self) -> None:
        self.writer = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        await asyncio.to_thread(self.writer.execute, "BEGIN IMMEDIATE")

    async def speed_up(self) -> None:
        if self.writer is not None:
            await asyncio.to_thread(self.writer.execute, "ROLLBACK")
            self.writer.close()
            self.writer = None


@asynccontextmanager
async def serving(url: str, slow: Slow) -> AsyncIterator[Slow]:
    # Statements and waits for the lock are each well within their own bounds.
    app = create_app(settings_for(url, request_timeout_seconds=DEADLINE, db_pool_timeout_seconds=10))
    # Served for real: the 504 leaves as soon as the deadline passes, while the cancelled
    # work winds down in the request's task (an in-process ASGI client would wait for both).
    async with (
        app.router.lifespan_context(app),
        serving_in_loop(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as client,
    ):
        slow.app, slow.client = app, client
        try:
            yield slow
        finally:
            await slow.speed_up()


@pytest.fixture
async def slow(app: FastAPI, settings: Settings) -> AsyncIterator[Slow]:
    """The test's engine, made slow on demand (`app` only empties the tables first)."""
    if settings.is_sqlite:
        async with serving(settings.database_url, LockedSqlite(settings.database_url)) as locked:
            yield locked
        return
    async with proxied(settings.database_url) as proxy, serving(proxy.url, ProxiedPostgres(proxy)) as slowed:
        yield slowed


class _Proxied(Proxy):
    url: str


@asynccontextmanager
async def proxied(url: str) -> AsyncIterator[_Proxied]:
    parsed = make_url(url)
    proxy = _Proxied(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.start()
    proxy.url = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    try:
        yield proxy
    finally:
        await proxy.stop()


def checked_out(app: FastAPI) -> int:
    pool: Any = app.state.services.database.engine.pool
    return int(pool.checkedout()) if hasattr(pool, "checkedout") else 0


async def pool_settles(app: FastAPI) -> None:
    """Wait until every connection is back in the pool (the cancelled work winds down)."""
    deadline = time.monotonic() + 20
    while checked_out(app):
        assert time.monotonic() < deadline, f"{checked_out(app)} connections never came back"
        await asyncio.sleep(0.05)


def statements_of(app: FastAPI) -> list[str]:
    """The SQL the app runs from now on (a list the test reads after)."""
    seen: list[str] = []
    event.listen(
        app.state.services.database.engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_: seen.append(sql),
    )
    return seen


async def create_article(slow: Slow, token: str) -> httpx.Response:
    return await slow.client.post(
        "/graphql",
        json={"query": CREATE_ARTICLE, "variables": {"input": article_input(tagList=TAGS)}},
        headers={"Authorization": f"Bearer {token}", "Accept": GRAPHQL_RESPONSE_JSON},
    )


async def test_a_mutation_past_the_deadline_is_504_and_leaves_nothing(slow: Slow) -> None:
    token = await register(slow.client, "writer")
    statements = statements_of(slow.app)
    await slow.slow_down()
    started = time.monotonic()
    response = await create_article(slow, token)
    elapsed = time.monotonic() - started
    assert (response.status_code, response.json()) == (504, TIMED_OUT)
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    await slow.speed_up()
    await pool_settles(slow.app)
    for table in ("articles", "article_tags", "tags"):
        assert await count_rows(slow.app, table) == 0, table
    # Without the deadline: the same mutation, fast, and what it would have cost when slow.
    statements.clear()
    served = await create_article(slow, token)
    assert served.json()["data"]["createArticle"]["errors"] == []
    assert await count_rows(slow.app, "article_tags") == len(TAGS)
    if isinstance(slow, ProxiedPostgres):
        would_have_taken = len(statements) * LATENCY
        assert would_have_taken > 4 * DEADLINE, statements
        assert elapsed < would_have_taken / 2
    else:
        assert elapsed < 10 / 2  # the busy timeout it would have waited out
    await pool_settles(slow.app)


async def test_a_query_past_the_deadline_is_504_from_the_query_lane(sqlite_url: str) -> None:
    """PostgreSQL only: SQLite's reads are not held up by a writer (see the module's doc)."""
    async with (
        proxied(engine_url("postgresql", sqlite_url)) as proxy,
        serving(proxy.url, ProxiedPostgres(proxy)) as slow,
    ):
        token = await register(slow.client, f"reader{time.monotonic_ns()}")
        created = await create_article(slow, token)  # rows for every level to read
        assert created.json()["data"]["createArticle"]["errors"] == [], created.text
        slug = created.json()["data"]["createArticle"]["article"]["slug"]
        await add_comment(slow.client, token, slug)
        await favorite(slow.client, token, slug)
        statements = statements_of(slow.app)
        fast = await gql(slow.client, DEEP_READ, token=token)
        assert "errors" not in fast, fast
        would_have_taken = len(statements) * LATENCY
        assert would_have_taken > 2 * DEADLINE, statements
        await slow.slow_down()
        started = time.monotonic()
        response = await slow.client.post(
            "/graphql", json={"query": DEEP_READ}, headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = time.monotonic() - started
        assert (response.status_code, response.json()) == (504, TIMED_OUT)
        assert response.headers["content-type"] == "application/json"
        assert elapsed < would_have_taken
        await slow.speed_up()
        await pool_settles(slow.app)
        assert "errors" not in await gql(slow.client, DEEP_READ, token=token)


async def test_a_fast_request_is_untouched_by_the_deadline(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})
