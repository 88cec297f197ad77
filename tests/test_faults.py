"""Faults: the database going away under load and coming back, and a server told to stop.

PostgreSQL itself is never stopped (other test runs share it): a TCP proxy between the server
and it plays the outage (tests/support/proxy.py), either refusing and resetting connections (a stopped
server) or swallowing every byte (a host gone from the network). SQLite has no network to
lose: its outage is another process holding the write lock past the busy timeout, and its
connection cut is the driver's connection closed in the middle of a transaction.

What must hold: no request hangs; every failure is a clean `SERVICE_UNAVAILABLE` error; the
readiness check says 503 while PostgreSQL is unreachable; the same server process serves
again once the database is back; and no mutation is ever left half-applied.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url

from db.settings import Settings
from graph.app import create_app
from graph.errors import DATABASE_UNAVAILABLE
from graph.mutations import OUTCOME_UNKNOWN
from tests.support.databases import wait_for_a_lock_waiter
from tests.support.engines import settings_for
from tests.support.factories import CREATE_ARTICLE, article_input, count_rows
from tests.support.gql import register
from tests.support.proxy import Proxy
from tests.support.servers import server_process, serving_in_loop

# Short timeouts keep the test quick; the bounds they imply are what is asserted. None is
# shorter than these: on a busy machine (two whole suites side by side on 2 cores) healthy
# requests waited over 1 s for the pool (SQLite's writers queue for the write lock in it), and a
# healthy PostgreSQL statement, or a new connection, took over a second before the outage.
POOL_TIMEOUT = 3.0
CONNECT_TIMEOUT = 2.0
STATEMENT_TIMEOUT_MS = 3000
DRIVER_TIMEOUT = STATEMENT_TIMEOUT_MS / 1000 + 1  # db/sql/engine.py: the client-side statement bound
# The longest a write may wait on a database that is gone: the pool at worst, then a pooled
# connection's pre-ping (or a statement in flight) unanswered, that connection dropped at once
# (db/sql/engine.py), and a new one unanswered too. A bound adds slack to it: a second where
# nothing else runs, more under load (`slack_for`, measured in the test).
WRITE_WAIT = POOL_TIMEOUT + DRIVER_TIMEOUT + CONNECT_TIMEOUT
WRITE_BOUND = WRITE_WAIT + 1.0
# A read that fails is tried again: by the general path after the query lane, by graphql-core
# after the level-wise executor; each try may wait out one more connection attempt.
READ_WAIT = WRITE_WAIT + 2 * CONNECT_TIMEOUT
READ_BOUND = READ_WAIT + 1.0
# Once the database is back, requests queued in the outage get their turn or time out within
# POOL_TIMEOUT (plus the slack); from then on every request must succeed.
TIMEOUTS = {
    "db_pool_timeout_seconds": POOL_TIMEOUT,
    "db_connect_timeout_seconds": CONNECT_TIMEOUT,
    "db_statement_timeout_ms": STATEMENT_TIMEOUT_MS,
}
TAGS = ["one", "two", "three"]
READ = "{ articles(first: 5) { totalCount edges { node { title tagList } } } }"


class Outage:
    """How the database goes away and comes back for an app on `url`."""

    url: str
    reads_survive: bool
    """SQLite keeps serving reads while a writer holds the lock (WAL); a lost server serves none."""

    def down_seconds(self, kind: str) -> float:
        """How long the outage lasts: long enough for requests begun in it to fail."""
        raise NotImplementedError

    async def begin(self, kind: str) -> None:
        raise NotImplementedError

    async def end(self) -> None:
        raise NotImplementedError

    def cut_when(self, statement: str, app: FastAPI) -> None:
        """Lose the app's connection when it next sends `statement`, before it runs."""
        raise NotImplementedError


class ProxiedPostgres(Outage):
    reads_survive = False

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        self.parsed = parsed

    def down_seconds(self, kind: str) -> float:
        return READ_BOUND if kind == "silent" else 1.5

    async def start(self) -> None:
        await self.proxy.start()
        self.url = self.parsed.set(host="127.0.0.1", port=self.proxy.port).render_as_string(False)

    async def begin(self, kind: str) -> None:
        await (self.proxy.stop() if kind == "refused" else self.proxy.blackhole())

    async def end(self) -> None:
        await self.proxy.start()

    def cut_when(self, statement: str, app: FastAPI) -> None:
        self.proxy.cut_when(statement.encode())


class LockedSqlite(Outage):
    reads_survive = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.writer: sqlite3.Connection | None = None
        self.marker: str | None = None

    def down_seconds(self, kind: str) -> float:
        """A write begun in the outage waits out the write queue's turn, then SQLite's busy
        timeout (both `POOL_TIMEOUT`): the outage outlasts both, so some write ends within it."""
        return WRITE_BOUND

    async def begin(self, kind: str) -> None:
        # In a thread: the server shares this event loop, and must go on to release the lock.
        self.writer = sqlite3.connect(
            str(make_url(self.url).database), isolation_level=None, timeout=30, check_same_thread=False
        )
        await asyncio.to_thread(self.writer.execute, "BEGIN IMMEDIATE")

    async def end(self) -> None:
        self.marker = None
        if self.writer is not None:
            await asyncio.to_thread(self.writer.execute, "ROLLBACK")
            self.writer.close()
            self.writer = None

    def cut_when(self, statement: str, app: FastAPI) -> None:
        self.marker = statement
        engine = app.state.services.database.engine.sync_engine
        if not event.contains(engine, "before_cursor_execute", self._close_at_marker):
            event.listen(engine, "before_cursor_execute", self._close_at_marker)

    def _close_at_marker(self, connection: Connection, _cursor: Any, sql: str, *_: Any) -> None:
        if self.marker is not None and self.marker in sql:
            self.marker = None
            connection.connection.dbapi_connection.close()  # type: ignore[union-attr]


@pytest.fixture
async def outage(app: FastAPI, settings: Settings) -> AsyncIterator[Outage]:
    """The outage of the test's engine (`app` only empties the tables first)."""
    if settings.is_sqlite:
        locked = LockedSqlite(settings.database_url)
        yield locked
        await locked.end()
        return
    proxied = ProxiedPostgres(settings.database_url)
    await proxied.start()
    yield proxied
    await proxied.proxy.stop()


@pytest.fixture
async def served_app(outage: Outage) -> AsyncIterator[FastAPI]:
    """An app on the database through the outage, with short timeouts."""
    application = create_app(settings_for(outage.url, **TIMEOUTS))
    async with application.router.lifespan_context(application):
        yield application


CLEAN = {(DATABASE_UNAVAILABLE, "SERVICE_UNAVAILABLE"), (OUTCOME_UNKNOWN, "OUTCOME_UNKNOWN")}


def unavailable(body: dict[str, Any]) -> bool:
    """The response is the clean refusal: only SERVICE_UNAVAILABLE errors, nothing internal (or,
    for a write whose COMMIT was cut, the truthful OUTCOME_UNKNOWN: graph/mutations.py)."""
    errors = body.get("errors") or []
    return bool(errors) and all(
        (error["message"], error["extensions"]["code"]) in CLEAN
        and set(error["extensions"]) == {"code", "errorId"}
        for error in errors
    )


def slack_for(healthy: list[Outcome]) -> float:
    """What the bounds allow beyond the timeouts: a second, or on a machine so busy that a
    request to a healthy database took longer than a quarter of that, four times the slowest
    such request. The bounds then measure the code's waits, not the machine's load: a wait
    the timeouts do not bound still fails them."""
    assert healthy, "no request finished before the outage"
    return max(1.0, 4 * max(o.ended - o.started for o in healthy))


@dataclass
class Outcome:
    write: bool
    started: float
    ended: float
    ok: bool
    body: dict[str, Any]


async def keep_busy(
    client: httpx.AsyncClient, token: str, worker: int, until: asyncio.Event, outcomes: list[Outcome]
) -> None:
    """Alternate reads and article creations (with tags) until told to stop."""
    for n in range(10_000):
        if until.is_set():
            return
        write = n % 2 == 1
        if write:
            variables = {"input": article_input(title=f"Load {worker}-{n}", tagList=TAGS)}
            request = {"query": CREATE_ARTICLE, "variables": variables}
        else:
            request = {"query": READ}
        started = time.monotonic()
        response = await client.post("/graphql", json=request, headers={"Authorization": f"Bearer {token}"})
        body = response.json()
        assert response.status_code == 200, body
        ok = "errors" not in body and (not write or body["data"]["createArticle"]["errors"] == [])
        outcomes.append(Outcome(write, started, time.monotonic(), ok, body))
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_under_load_an_outage_fails_requests_fast_and_the_server_recovers(
    outage: Outage, served_app: FastAPI, kind: str
) -> None:
    limits = httpx.Limits(max_connections=50)
    async with (
        serving_in_loop(served_app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", limits=limits, timeout=30) as client,
    ):
        token = await register(client, "loader")
        stop = asyncio.Event()
        outcomes: list[Outcome] = []
        workers = [asyncio.create_task(keep_busy(client, token, n, stop, outcomes)) for n in range(10)]
        await asyncio.sleep(0.5)
        warmed_up = time.monotonic() + 60  # a busy machine may take longer than the 0.5 s
        while len(outcomes) < 20:
            assert time.monotonic() < warmed_up, "requests did not get through before the outage"
            await asyncio.sleep(0.05)
        slack = slack_for(outcomes)

        going_down = time.monotonic()  # requests in flight from here may meet the outage
        await outage.begin(kind)
        went_down = time.monotonic()
        await asyncio.sleep(0.2)
        started = time.monotonic()
        ready = await client.get("/health/ready")
        assert time.monotonic() - started < WRITE_WAIT + slack
        assert ready.status_code == (200 if outage.reads_survive else 503)
        await asyncio.sleep(outage.down_seconds(kind))

        came_back = time.monotonic()
        await outage.end()
        await asyncio.sleep(POOL_TIMEOUT + slack + 1.0)
        assert (await client.get("/health/ready")).status_code == 200
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), READ_WAIT + slack)

    before = [o for o in outcomes if o.ended < going_down]
    during = [o for o in outcomes if went_down < o.started and o.ended < came_back]
    after = [o for o in outcomes if o.started > came_back + POOL_TIMEOUT + slack]
    assert before and all(o.ok for o in before)
    assert after and [o.body for o in after if not o.ok] == [], "the server did not recover"
    # No request hung, and every failure, whenever it came, was the clean one.
    assert max(o.ended - o.started for o in outcomes if o.write) < WRITE_WAIT + slack
    assert max(o.ended - o.started for o in outcomes if not o.write) < READ_WAIT + slack
    assert all(unavailable(o.body) for o in outcomes if not o.ok)
    writes = [o for o in during if o.write]
    assert writes and not any(o.ok for o in writes)
    reads = [o for o in during if not o.write]
    assert reads and all(o.ok for o in reads) == outage.reads_survive
    # All or nothing: every article that exists carries all its tags.
    created = sum(o.ok for o in outcomes if o.write)
    assert created <= await count_rows(served_app, "articles") <= sum(o.write for o in outcomes)
    assert await articles_missing_tags(served_app) == 0


async def articles_missing_tags(app: FastAPI) -> int:
    async with app.state.services.database.read_session() as session:
        missing = await session.scalar(
            text(
                "SELECT count(*) FROM articles WHERE id NOT IN "
                "(SELECT article_id FROM article_tags GROUP BY article_id HAVING count(*) = :tags)"
            ),
            {"tags": len(TAGS)},
        )
    return int(missing or 0)


async def test_a_mutation_cut_halfway_leaves_nothing_and_the_next_one_works(
    outage: Outage, served_app: FastAPI
) -> None:
    transport = httpx.ASGITransport(app=served_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
        token = await register(client, "writer")
        # After the article's INSERT, before its tags are linked.
        outage.cut_when("INSERT INTO article_tags", served_app)
        variables = {"input": article_input(tagList=TAGS)}
        started = time.monotonic()
        response = await client.post(
            "/graphql",
            json={"query": CREATE_ARTICLE, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert time.monotonic() - started < WRITE_BOUND
        assert unavailable(response.json()), response.json()
        await outage.end()
        assert [await count_rows(served_app, table) for table in ("articles", "article_tags")] == [0, 0]

        retried = await client.post(
            "/graphql",
            json={"query": CREATE_ARTICLE, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert retried.json()["data"]["createArticle"]["article"]["tagList"] == TAGS
        assert [await count_rows(served_app, table) for table in ("articles", "article_tags")] == [1, 3]


# Graceful shutdown.


async def test_sigterm_lets_the_request_in_flight_finish_then_exits(app: FastAPI, settings: Settings) -> None:
    # The held write waits as long as the test holds the lock: generous waits keep a busy
    # machine from timing it out (this test is about shutdown, not timeouts).
    generous = {"DB_POOL_TIMEOUT_SECONDS": "60", "DB_STATEMENT_TIMEOUT_MS": "60000"}
    with server_process(settings.database_url, **generous) as (base, process):
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            token = await register(client, "writer")
            async with writes_held(settings.database_url) as held:
                variables = {"input": article_input(tagList=TAGS)}
                request = asyncio.create_task(
                    client.post(
                        "/graphql",
                        json={"query": CREATE_ARTICLE, "variables": variables},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )
                await held.waited_on()
                process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                assert process.poll() is None, "the server exited with a request in flight"
                with pytest.raises(httpx.ConnectError):  # but it takes no new connection
                    async with httpx.AsyncClient(base_url=base) as newcomer:
                        await newcomer.get("/health/live")
            response = await asyncio.wait_for(request, 60)  # a hang guard
        assert response.status_code == 200
        assert response.json()["data"]["createArticle"]["article"]["tagList"] == TAGS
        # uvicorn exits by re-raising the signal once it has shut down gracefully.
        assert await asyncio.to_thread(process.wait, 60) in (0, -signal.SIGTERM)
    assert await count_rows(app, "articles") == 1


class HeldWrites:
    def __init__(self, postgres: asyncpg.Connection | None) -> None:
        self.postgres = postgres

    async def waited_on(self) -> None:
        """Returns once a statement of the server waits on the lock (PostgreSQL); SQLite's
        BEGIN IMMEDIATE retries silently, so there is only time to give it."""
        if self.postgres is None:
            await asyncio.sleep(0.5)
            return
        await wait_for_a_lock_waiter(self.postgres, "the server's write never waited on the lock")


@asynccontextmanager
async def writes_held(database_url: str) -> AsyncIterator[HeldWrites]:
    """A transaction outside the server that keeps new articles from being written until the
    block ends: the request that tries is slow, and in flight."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        connection = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
        )
        try:
            await connection.execute("BEGIN")
            await connection.execute("LOCK TABLE articles IN SHARE ROW EXCLUSIVE MODE")
            yield HeldWrites(connection)
            await connection.execute("ROLLBACK")
        finally:
            await connection.close()
        return
    writer = sqlite3.connect(str(url.database), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        yield HeldWrites(None)
        writer.execute("ROLLBACK")
    finally:
        writer.close()
