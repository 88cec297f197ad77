"""`RequestReads`: a request's reads share one autocommit connection, and give it back.

Pool checkouts are counted with the pool's own events on the app's engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from db.sql.engine import Database
from db.sql.fetch import ReadConnection
from db.sql.reads import RequestReads
from tests.support.factories import add_comment, create_article, favorite, gql
from tests.support.gql import register

READS = 5


class Checkouts:
    """How many connections the pool handed out, and how many are out now."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1

    @property
    def out(self) -> int:
        checked_out: int = self.database.engine.pool.checkedout()  # type: ignore[attr-defined]
        return checked_out


@pytest.fixture
def database(app: FastAPI) -> Database:
    found: Database = app.state.services.database
    return found


@pytest.fixture
def checkouts(database: Database) -> Iterator[Checkouts]:
    counter = Checkouts(database)
    event.listen(database.engine.sync_engine, "checkout", counter)
    yield counter
    event.remove(database.engine.sync_engine, "checkout", counter)


async def one(connection: ReadConnection) -> int:
    [(value,)] = await connection.execute(text("SELECT 1"), {})
    return int(value)


async def test_held_reads_use_one_connection_until_closed(database: Database, checkouts: Checkouts) -> None:
    reads = database.request_reads(hold=True)
    for _ in range(READS):
        async with reads.connection() as connection:
            assert await one(connection) == 1
        assert checkouts.out == 1
    assert checkouts.count == 1
    await reads.close()
    assert checkouts.out == 0
    assert checkouts.count == 1


async def test_held_reads_share_one_connection(database: Database) -> None:
    reads = database.request_reads(hold=True)
    connections = []
    for _ in range(READS):
        async with reads.connection() as connection:
            await one(connection)
            connections.append(connection)
    await reads.close()
    assert all(connection is connections[0] for connection in connections)


async def test_reads_not_held_give_the_connection_back_after_each(
    database: Database, checkouts: Checkouts
) -> None:
    reads = database.request_reads(hold=False)
    for _ in range(READS):
        async with reads.connection() as connection:
            assert await one(connection) == 1
            assert checkouts.out == 1
        assert checkouts.out == 0
    assert checkouts.count == READS
    await reads.close()
    assert checkouts.out == 0


async def test_closing_reads_that_read_nothing_checks_nothing_out(
    database: Database, checkouts: Checkouts
) -> None:
    reads = database.request_reads(hold=True)
    await reads.close()
    await reads.close()
    assert (checkouts.count, checkouts.out) == (0, 0)


async def fail_with_python_error(connection: ReadConnection) -> None:
    await one(connection)
    raise LookupError("a failure of the caller's")


async def fail_in_the_database(connection: ReadConnection) -> None:
    await connection.execute(text("SELECT * FROM no_such_table"), {})


async def read_with(reads: RequestReads, read: Callable[[ReadConnection], Awaitable[None]]) -> None:
    async with reads.connection() as connection:
        await read(connection)


@pytest.mark.parametrize(
    ("failing", "error"),
    [(fail_with_python_error, LookupError), (fail_in_the_database, DBAPIError)],
    ids=["python", "database"],
)
async def test_a_failing_read_drops_its_connection(
    database: Database,
    checkouts: Checkouts,
    failing: Callable[[ReadConnection], Awaitable[None]],
    error: type[Exception],
) -> None:
    reads = database.request_reads(hold=True)
    async with reads.connection() as connection:
        await one(connection)
        before = connection
    with pytest.raises(error):
        await read_with(reads, failing)
    assert checkouts.out == 0
    async with reads.connection() as connection:
        assert connection is not before
        assert await one(connection) == 1
    assert checkouts.count == 2
    await reads.close()
    assert checkouts.out == 0


async def fail_as_an_outage(connection: ReadConnection) -> None:
    await one(connection)
    raise sqlalchemy.exc.TimeoutError("no connection within the pool timeout")


async def test_after_an_outage_a_requests_later_reads_fail_at_once(
    database: Database, checkouts: Checkouts
) -> None:
    """Each would otherwise wait out the timeouts again, on a database already known gone."""
    reads = database.request_reads(hold=True)
    with pytest.raises(sqlalchemy.exc.TimeoutError):
        await read_with(reads, fail_as_an_outage)
    for _ in range(READS):
        with pytest.raises(sqlalchemy.exc.TimeoutError, match="earlier in this request"):
            await read_with(reads, fail_in_the_database)
    assert (checkouts.count, checkouts.out) == (1, 0)
    await reads.close()


async def test_reads_not_held_try_the_database_again_after_an_outage(
    database: Database, checkouts: Checkouts
) -> None:
    """A WebSocket's reads outlive an outage: the next operation must find the database back."""
    reads = database.request_reads(hold=False)
    with pytest.raises(sqlalchemy.exc.TimeoutError):
        await read_with(reads, fail_as_an_outage)
    async with reads.connection() as connection:
        assert await one(connection) == 1
    assert (checkouts.count, checkouts.out) == (2, 0)


async def test_a_cancelled_read_drops_its_connection(database: Database, checkouts: Checkouts) -> None:
    reads = database.request_reads(hold=True)
    entered = asyncio.Event()

    async def stuck() -> None:
        async with reads.connection() as connection:
            await one(connection)
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert checkouts.out == 0
    async with reads.connection() as connection:
        assert await one(connection) == 1
    await reads.close()
    assert checkouts.out == 0


async def test_concurrent_readers_take_turns(database: Database, checkouts: Checkouts) -> None:
    """Never two callers in one connection at once, though all of them asked at the same time."""
    reads = database.request_reads(hold=True)
    inside = 0
    most_inside = 0
    order: list[str] = []

    async def reader(name: str) -> ReadConnection:
        nonlocal inside, most_inside
        async with reads.connection() as connection:
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(f"{name} in")
            await one(connection)
            await asyncio.sleep(0.005)
            order.append(f"{name} out")
            inside -= 1
            return connection

    names = [f"reader{number}" for number in range(READS)]
    connections = await asyncio.gather(*(reader(name) for name in names))
    await reads.close()
    assert most_inside == 1
    assert order == [f"{name} {step}" for name in names for step in ("in", "out")]
    assert all(connection is connections[0] for connection in connections)
    assert checkouts.count == 1


async def test_close_waits_for_the_read_in_progress(database: Database, checkouts: Checkouts) -> None:
    reads = database.request_reads(hold=True)
    entered = asyncio.Event()
    release = asyncio.Event()
    finished: list[int] = []

    async def reader() -> None:
        async with reads.connection() as connection:
            entered.set()
            await release.wait()
            finished.append(await one(connection))

    task = asyncio.create_task(reader())
    await entered.wait()
    closing = asyncio.create_task(reads.close())
    await asyncio.sleep(0.01)
    assert not closing.done()
    release.set()
    await asyncio.gather(task, closing)
    assert finished == [1]
    assert checkouts.out == 0


async def test_run_returns_what_the_read_returns(database: Database, checkouts: Checkouts) -> None:
    reads = database.request_reads(hold=True)
    assert [await reads.run(one) for _ in range(READS)] == [1] * READS
    assert (checkouts.count, checkouts.out) == (1, 1)
    await reads.close()
    assert checkouts.out == 0


async def test_run_raises_what_the_read_raises_and_drops_its_connection(
    database: Database, checkouts: Checkouts
) -> None:
    reads = database.request_reads(hold=True)
    with pytest.raises(LookupError):
        await reads.run(fail_with_python_error)
    assert checkouts.out == 0
    assert await reads.run(one) == 1
    await reads.close()


async def test_a_read_run_for_a_cancelled_caller_still_finishes(
    database: Database, checkouts: Checkouts
) -> None:
    """Only the caller stops waiting: the read ends normally and gives back what it took."""
    reads = database.request_reads(hold=False)
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def slow(connection: ReadConnection) -> None:
        started.set()
        await release.wait()
        finished.append(await one(connection))

    caller = asyncio.create_task(reads.run(slow))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    async with reads.connection() as connection:  # waits for the read in progress to end
        assert finished == [1]
        await one(connection)
    assert checkouts.out == 0


async def test_a_read_after_close_holds_nothing(database: Database, checkouts: Checkouts) -> None:
    """A load that outlived its request must not keep a connection nobody will give back."""
    reads = database.request_reads(hold=True)
    assert await reads.run(one) == 1
    await reads.close()
    assert await reads.run(one) == 1
    async with reads.connection() as connection:
        assert await one(connection) == 1
    assert checkouts.out == 0


def test_each_caller_gets_reads_of_its_own(database: Database) -> None:
    first, second = database.request_reads(hold=True), database.request_reads(hold=True)
    assert isinstance(first, RequestReads)
    assert first is not second


# Through the app: a request's loads, however many, read through one connection. `nodes` keeps
# the query level by level on PostgreSQL too (graph/execution/trees.py does not compile it), so
# that it takes several reads.

LOADS = """
{
  nodes(ids: ["VXNlcjox"]) { id }
  articles(first: 10) {
    nodes {
      tagList favorited favoritesCount
      author { username following followersCount articles { totalCount } }
      comments(first: 5) { totalCount nodes { body author { username } } }
    }
  }
  tags { name }
}
"""


async def test_a_request_checks_out_one_connection_for_all_its_loads(
    app: FastAPI, client: httpx.AsyncClient, checkouts: Checkouts
) -> None:
    token = await register(client, "alice")
    fan = await register(client, "bob")
    for number in range(3):
        article = await create_article(client, token, title=f"Article {number}", tagList=["one", "two"])
        await add_comment(client, fan, article["slug"])
        await favorite(client, fan, article["slug"])
    statements = 0

    def counted(*_: Any) -> None:
        nonlocal statements
        statements += 1

    sync_engine = app.state.services.database.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", counted)
    checkouts.count = 0
    try:
        result = await gql(client, LOADS, token=fan)
    finally:
        event.remove(sync_engine, "before_cursor_execute", counted)
    assert "errors" not in result, result
    assert {node["favorited"] for node in result["data"]["articles"]["nodes"]} == {True}
    assert statements > 3  # several loads…
    assert checkouts.count == 1  # …through one connection
    assert checkouts.out == 0  # given back with the answer
