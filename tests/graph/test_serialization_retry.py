"""A mutation rolled back for a serialization failure or a deadlock runs again (graph/mutations.py).

The failures are PostgreSQL's own: a trigger raises SQLSTATE 40001 or 40P01 the first times
an article is inserted (a sequence counts the attempts: it is not rolled back with them). On
SQLite, which raises neither, a failed write is never run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from websockets.asyncio.client import connect

from tests.support.databases import ONLY_POSTGRESQL
from tests.support.factories import CREATE_ARTICLE, article_input, count_rows, database, gql
from tests.support.gql import register
from tests.support.servers import serving_in_loop


@contextlib.asynccontextmanager
async def failing_inserts(app: FastAPI, times: int, code: str) -> AsyncIterator[None]:
    """The first `times` INSERTs into articles fail with SQLSTATE `code` (PostgreSQL)."""
    engine = database(app).engine
    async with engine.begin() as connection:
        await connection.execute(text("CREATE SEQUENCE conduit_test_attempts"))
        await connection.execute(
            text(
                "CREATE FUNCTION conduit_test_conflict() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF nextval('conduit_test_attempts') <= {times} THEN "
                f"RAISE EXCEPTION 'conflict made by the test' USING ERRCODE = '{code}'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER conduit_test_conflict BEFORE INSERT ON articles "
                "FOR EACH ROW EXECUTE FUNCTION conduit_test_conflict()"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER conduit_test_conflict ON articles"))
            await connection.execute(text("DROP FUNCTION conduit_test_conflict()"))
            await connection.execute(text("DROP SEQUENCE conduit_test_attempts"))


@contextlib.contextmanager
def counting_inserts(app: FastAPI) -> Any:
    """A list that grows by one for each INSERT into articles the app's engine runs."""
    inserts: list[str] = []

    def note(_: Any, __: Any, statement: str, *___: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ARTICLES"):
            inserts.append(statement)

    sync_engine = database(app).engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", note)
    try:
        yield inserts
    finally:
        event.remove(sync_engine, "before_cursor_execute", note)


@ONLY_POSTGRESQL
@pytest.mark.parametrize("code", ["40001", "40P01"])
async def test_a_conflicted_mutation_runs_again_and_succeeds(
    app: FastAPI, client: httpx.AsyncClient, code: str
) -> None:
    token = await register(client, "alice")
    async with failing_inserts(app, 2, code):
        with counting_inserts(app) as inserts:
            result = await gql(client, CREATE_ARTICLE, {"input": article_input(title="Retried")}, token)
    assert "errors" not in result, result
    assert result["data"]["createArticle"]["article"]["title"] == "Retried"
    assert len(inserts) == 3  # two rolled back, the third committed
    assert await count_rows(app, "articles") == 1


@ONLY_POSTGRESQL
async def test_a_conflicted_mutation_over_a_websocket_runs_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """graphql-transport-ws: one `next` for the mutation, its successful result."""
    token = await register(client, "alice")
    subscribe = {"query": CREATE_ARTICLE, "variables": {"input": article_input(title="Over a socket")}}
    async with serving_in_loop(app) as address, failing_inserts(app, 1, "40001"):
        with counting_inserts(app) as inserts:
            async with connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
                await socket.send(
                    json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
                )
                assert json.loads(await socket.recv()) == {"type": "connection_ack"}
                await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
                answer = json.loads(await asyncio.wait_for(socket.recv(), 30))
                assert json.loads(await asyncio.wait_for(socket.recv(), 30)) == {
                    "id": "1",
                    "type": "complete",
                }
    assert answer["type"] == "next", answer
    assert "errors" not in answer["payload"], answer
    assert answer["payload"]["data"]["createArticle"]["article"]["title"] == "Over a socket"
    assert len(inserts) == 2
    assert await count_rows(app, "articles") == 1


@ONLY_POSTGRESQL
async def test_retries_are_bounded_and_then_the_client_is_told_to_try_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    retries = app.state.services.settings.db_serialization_retries
    token = await register(client, "alice")
    async with failing_inserts(app, 1000, "40001"):
        with counting_inserts(app) as inserts:
            result = await gql(client, CREATE_ARTICLE, {"input": article_input()}, token)
    assert result["data"] is None
    [error] = result["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
    assert len(inserts) == 1 + retries == 4
    assert await count_rows(app, "articles") == 0


async def test_other_database_errors_are_not_retried(
    app: FastAPI, client: httpx.AsyncClient, engine_name: str
) -> None:
    """SQLite's path: none of its errors is a serialization failure; nor is PostgreSQL's P0001."""
    token = await register(client, "alice")
    engine = database(app).engine
    async with engine.begin() as connection:
        if engine_name == "sqlite":
            await connection.execute(
                text(
                    "CREATE TRIGGER conduit_test_refuse BEFORE INSERT ON articles "
                    "BEGIN SELECT RAISE(ABORT, 'no'); END"
                )
            )
    try:
        async with contextlib.AsyncExitStack() as stack:
            if engine_name == "postgresql":
                await stack.enter_async_context(failing_inserts(app, 1000, "P0001"))
            with counting_inserts(app) as inserts:
                result = await gql(client, CREATE_ARTICLE, {"input": article_input()}, token)
    finally:
        if engine_name == "sqlite":
            async with engine.begin() as connection:
                await connection.execute(text("DROP TRIGGER conduit_test_refuse"))
    assert result["data"] is None
    assert result["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert len(inserts) == 1
    assert await count_rows(app, "articles") == 0
