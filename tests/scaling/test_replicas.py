"""Queries on a real streaming standby, and reading one's own writes (README "Read replicas").

The harness (tests/support/pgservers.py) makes a primary and a standby of their own. With
the standby's replay paused, what the standby answers is visibly older than the primary:
an anonymous query that misses a new article was served by the standby, while its author,
reading what they wrote, is sent to the primary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from db.sql.replicas import HEADER, parse_position
from graph.app import create_app
from tests.support.engines import empty_tables, settings_for
from tests.support.gql import gql, register
from tests.support.pgservers import Replication

BASE = "http://conduit.test"
TITLES = "{ articles(first: 20) { edges { node { title } } } }"
WAIT_SECONDS = 60


async def titles(
    client: httpx.AsyncClient, token: str | None = None, position: str | None = None
) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if position is not None:
        headers[HEADER] = position
    response = await client.post("/graphql", json={"query": TITLES}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return [edge["node"]["title"] for edge in body["data"]["articles"]["edges"]]


async def write_article(client: httpx.AsyncClient, token: str, title: str) -> tuple[dict[str, Any], str]:
    """The payload of a createArticle, and the write position its response carried."""
    query = (
        "mutation($input: CreateArticleInput!) "
        "{ createArticle(input: $input) { article { title } errors { code } } }"
    )
    variables = {"input": {"title": title, "description": "d", "body": "b"}}
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    position = response.headers.get(HEADER)
    assert position is not None, response.headers
    parse_position(position)
    return response.json()["data"]["createArticle"], position


async def replayed_everything(servers: Replication) -> None:
    """Wait until the standby has replayed all the primary wrote so far."""
    primary, standby = await servers.primary(), await servers.standby()
    try:
        written = parse_position(await primary.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        deadline = time.monotonic() + WAIT_SECONDS
        while parse_position(await standby.fetchval("SELECT pg_last_wal_replay_lsn()::text")) < written:
            assert time.monotonic() < deadline, "the standby did not catch up"
            await asyncio.sleep(0.05)
    finally:
        await primary.close()
        await standby.close()


async def pause_replay(servers: Replication, *, paused: bool = True) -> None:
    standby = await servers.standby()
    try:
        await standby.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")
        deadline = time.monotonic() + WAIT_SECONDS
        wanted = "paused" if paused else "not paused"
        while await standby.fetchval("SELECT pg_get_wal_replay_pause_state()") != wanted:
            assert time.monotonic() < deadline, f"the standby's replay is not {wanted}"
            await asyncio.sleep(0.05)
    finally:
        await standby.close()


@pytest.fixture
async def replica_app(replicated: Replication) -> AsyncIterator[FastAPI]:
    settings = settings_for(replicated.primary_url, database_replica_urls=[replicated.standby_url])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await empty_tables(app)
        await replayed_everything(replicated)
        try:
            yield app
        finally:
            await pause_replay(replicated, paused=False)


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def test_queries_read_the_standby_and_a_writer_reads_their_own_write(
    replica_app: FastAPI, replicated: Replication
) -> None:
    async with client_of(replica_app) as client:
        alice, bob = await register(client, "alice"), await register(client, "bob")
        await write_article(client, alice, "Before")
        await replayed_everything(replicated)
        assert await titles(client) == ["Before"]

        await pause_replay(replicated)
        payload, position = await write_article(client, alice, "While paused")
        assert payload == {"article": {"title": "While paused"}, "errors": []}  # read on the primary
        assert await titles(client) == ["Before"]  # anonymous: the standby, replay paused
        assert await titles(client, bob) == ["Before"]  # another viewer: the standby too
        # The writer, signed in: this process remembers their write (the grace period).
        assert await titles(client, alice) == ["While paused", "Before"]
        # The writer's client sends the position back: any process knows (here: a second app).
        other = create_app(
            settings_for(replicated.primary_url, database_replica_urls=[replicated.standby_url])
        )
        async with other.router.lifespan_context(other), client_of(other) as elsewhere:
            assert await titles(elsewhere, alice) == ["Before"]  # no header, no memory of it
            assert await titles(elsewhere, alice, position) == ["While paused", "Before"]
            assert await titles(elsewhere, None, position) == ["While paused", "Before"]

            await pause_replay(replicated, paused=False)
            await replayed_everything(replicated)
            assert await titles(client) == ["While paused", "Before"]

            # Once the standby replayed past the position, the header sends reads there again:
            # with replay paused anew, a later write by bob is missing from alice's reads.
            await pause_replay(replicated)
            await write_article(client, bob, "Bob's")
            deadline = time.monotonic() + WAIT_SECONDS
            while (found := await titles(elsewhere, alice, position)) != ["While paused", "Before"]:
                assert time.monotonic() < deadline, found  # the replay position is learnt in the background
                await asyncio.sleep(0.05)
            assert await titles(elsewhere, bob) == ["While paused", "Before"]  # bob's own write...
            assert "Bob's" in await titles(client, bob)  # ...is his to see, in the process he wrote in


async def test_a_garbled_position_header_is_ignored(replica_app: FastAPI) -> None:
    async with client_of(replica_app) as client:
        for garbled in ("", "nonsense", "1/2/3", "G/0", "123456789/0", "0/" + "F" * 40):
            assert await titles(client, None, garbled) == []


async def test_reads_go_on_when_the_standby_stops_and_come_back_when_it_returns(
    replica_app: FastAPI, replicated: Replication
) -> None:
    async with client_of(replica_app) as client:
        alice = await register(client, "alice")
        await write_article(client, alice, "First")
        await replayed_everything(replicated)
        assert await titles(client) == ["First"]
        replicated.stop_standby()
        try:
            for _ in range(3):  # a failed read runs again on the primary; then it is skipped
                assert await titles(client) == ["First"]
            await write_article(client, alice, "Second")
            assert await titles(client) == ["Second", "First"]
            assert await gql(client, "{ tags { name } }") == {"data": {"tags": []}}
        finally:
            replicated.start_standby()
        await replayed_everything(replicated)
        # Back after the cooldown: with replay paused, the standby's older answer shows it.
        await pause_replay(replicated)
        await write_article(client, alice, "Third")
        deadline = time.monotonic() + WAIT_SECONDS
        while "Third" in await titles(client):
            assert time.monotonic() < deadline, "the standby never served reads again"
            await asyncio.sleep(0.2)
        assert await titles(client) == ["Second", "First"]


async def test_a_mutation_with_an_idempotency_key_carries_its_write_position(replica_app: FastAPI) -> None:
    """Committed after its response was built and stored (graph/mutations.py `settle`)."""
    async with client_of(replica_app) as client:
        alice = await register(client, "alice")
        response = await client.post(
            "/graphql",
            json={"query": 'mutation { followUser(username: "alice") { errors { code } } }'},
            headers={"Authorization": f"Bearer {alice}", "Idempotency-Key": "key-1"},
        )
        assert response.status_code == 200, response.text
        position = response.headers[HEADER]
        assert parse_position(position) > 0
        assert await titles(client, None, position) == []
