"""db/sql/fetch.py: prebuilt reads run on the driver on a request's read connection on PostgreSQL,
through SQLAlchemy everywhere else, and give the same records and the same errors either way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from db.models import Tag
from db.sql.availability import database_unavailable
from db.sql.engine import Database
from db.sql.fetch import ReadConnection, fetch, is_prepared
from db.sql.statements import any_of, records
from tests.support.databases import terminate_backend

NAMES = [f"tag{number}" for number in range(8)]
TAGS = Tag.__table__
# A bound list, a value given in the statement itself (the LIMIT), and an ordering.
BY_IDS = (
    select(TAGS.c.id, TAGS.c.name.label("tag_name")).where(any_of(TAGS.c.id)).order_by(TAGS.c.name).limit(5)
)
FAILING = select(text("*")).select_from(text("no_such_table"))


@pytest.fixture
def database(app: FastAPI) -> Database:
    found: Database = app.state.services.database
    return found


@pytest.fixture
async def tag_ids(database: Database) -> list[int]:
    async with database.unit_of_work() as session:
        await session.execute(insert(Tag), [{"name": name} for name in NAMES])
    async with database.read_session() as session:
        return list((await session.scalars(select(Tag.id))).all())


@asynccontextmanager
async def reading(database: Database) -> AsyncIterator[ReadConnection]:
    """A read connection as a request's `RequestReads` holds one."""
    connection = await ReadConnection.open(database.read_engine)
    try:
        yield connection
    finally:
        await connection.close()


class Heard:
    """The statements the engine's `before_cursor_execute` listeners hear, with whether they
    came with SQLAlchemy's execution context (None when run on the driver)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, bool]] = []

    def __call__(self, _: Any, __: Any, statement: str, ___: Any, context: Any, ____: bool) -> None:
        self.statements.append((statement, context is not None))


@pytest.fixture
def heard(database: Database) -> Iterator[Heard]:
    listener = Heard()
    event.listen(database.engine.sync_engine, "before_cursor_execute", listener)
    yield listener
    event.remove(database.engine.sync_engine, "before_cursor_execute", listener)


async def test_the_records_are_those_of_sqlalchemys_execution(database: Database, tag_ids: list[int]) -> None:
    async with database.read_session() as session:
        expected = records(await session.execute(BY_IDS, {"ids": tag_ids}))
    async with reading(database) as connection:
        found = await fetch(connection, BY_IDS, {"ids": tag_ids})
    assert found == expected
    assert [record.tag_name for record in found] == NAMES[:5]
    assert found[0]._fields == ("id", "tag_name")


async def test_reads_run_on_the_driver_on_postgresql_only_and_are_heard(
    database: Database, tag_ids: list[int], heard: Heard, engine_name: str
) -> None:
    async with reading(database) as connection:
        await fetch(connection, BY_IDS, {"ids": tag_ids})
    [(statement, through_sqlalchemy)] = heard.statements
    assert "tags" in statement
    assert through_sqlalchemy == (engine_name == "sqlite")
    assert is_prepared(BY_IDS, database.engine.dialect) == (engine_name == "postgresql")


async def test_a_unit_of_work_reads_through_sqlalchemy_inside_its_transaction(
    database: Database, heard: Heard
) -> None:
    """A write's reads must see its own uncommitted rows and take part in its transaction."""
    async with database.unit_of_work() as session:
        await session.execute(insert(Tag), [{"name": "fresh"}])
        ids = list((await session.scalars(select(Tag.id))).all())
        found = await fetch(session, BY_IDS, {"ids": ids})
        assert [record.tag_name for record in found] == ["fresh"]
    assert all(through_sqlalchemy for _, through_sqlalchemy in heard.statements)


async def test_a_read_connection_is_given_back_on_close(database: Database, tag_ids: list[int]) -> None:
    pool = database.engine.pool
    connection = await ReadConnection.open(database.read_engine)
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
    assert len(await fetch(connection, BY_IDS, {"ids": tag_ids})) == 5
    assert len(await fetch(connection, BY_IDS, {"ids": tag_ids[:2]})) == 2
    await connection.close()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_failing_statement_raises_a_dbapi_error(database: Database, tag_ids: list[int]) -> None:
    async with reading(database) as connection:
        with pytest.raises(DBAPIError) as raised:
            await fetch(connection, FAILING, {})
        assert not raised.value.connection_invalidated
        assert not database_unavailable(raised.value)
        assert len(await fetch(connection, BY_IDS, {"ids": tag_ids})) == 5  # the connection is still good


PID = select(func.pg_backend_pid().label("pid"))


async def test_a_lost_connection_is_an_outage_and_is_not_lent_again(postgres_database: Database) -> None:
    async with reading(postgres_database) as connection:
        [record] = await fetch(connection, PID, {})
        await terminate_backend(postgres_database.engine.url.render_as_string(False), record.pid)
        with pytest.raises(DBAPIError) as raised:
            await fetch(connection, PID, {})
    assert raised.value.connection_invalidated
    assert database_unavailable(raised.value)
    async with reading(postgres_database) as fresh:
        [again] = await fetch(fresh, PID, {})
    assert again.pid != record.pid
