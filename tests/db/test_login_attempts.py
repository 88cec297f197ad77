"""The login throttle's table on PostgreSQL (db/login_attempts.py): the same answers as the
buckets in memory, atomic under concurrent attempts from several pools, and bounded.

PostgreSQL only: SQLite keeps the buckets in memory (tests/db/test_throttle.py).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.errors import TooManyRequests
from db.login_attempts import PURGE_BATCH, TableThrottle, row_key
from db.migrate import upgrade
from db.sql.engine import Database
from db.throttle import Kind, LoginThrottle, MemoryThrottle
from tests.db.test_throttle import Clock, settings
from tests.support.engines import engine_url, settings_for


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    url = engine_url("postgresql", sqlite_url)
    await asyncio.to_thread(upgrade, url)
    database = Database.from_settings(settings_for(url))
    await _run(database.engine, "DELETE FROM login_attempts")
    yield database
    await database.dispose()


async def _run(engine: AsyncEngine, statement: str) -> int:
    async with engine.begin() as connection:
        return int((await connection.execute(text(statement))).rowcount)


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM login_attempts")) or 0)


async def outcome(throttle: LoginThrottle, address: str | None, account: str | None) -> int | None:
    """None when the attempt may go on, else the seconds it is told to wait."""
    throttle.check_address(address)
    try:
        await throttle.check(account)
    except TooManyRequests as refused:
        return refused.retry_after
    return None


async def test_the_table_answers_as_the_buckets_in_memory(database: Database) -> None:
    """Random attempts, successes and waits: both stores give the same answer each time."""
    clock = Clock()
    given = settings(login_failures_per_account=3, login_attempts_per_address=5)
    memory = MemoryThrottle(given, clock=clock)
    table = TableThrottle(given, database.engine, clock=clock)
    picks = random.Random(7)
    answers = []
    for _ in range(300):
        address = picks.choice(["192.0.2.1", "192.0.2.2", None])
        account = picks.choice(["alice@example.com", "bob@example.com", None])
        expected = await outcome(memory, address, account)
        assert await outcome(table, address, account) == expected
        answers.append(expected)
        if account is not None and expected is None and picks.random() < 0.1:
            await memory.succeeded(account)
            await table.succeeded(account)
        clock.now += picks.choice([0, 0, 0.3, 1.7, 4])
    assert None in answers and len(set(answers)) > 3  # both limits were hit, with several waits


async def test_concurrent_attempts_from_several_pools_take_one_token_each(database: Database) -> None:
    """Forty attempts on one account at once, through two engines (as two processes would):
    exactly the bucket's five get through."""
    given = settings_for(database.engine.url.render_as_string(False), login_failures_per_account=5)
    other = Database.from_settings(given)
    throttles = [TableThrottle(given, database.engine), TableThrottle(given, other.engine)]
    try:
        results = await asyncio.gather(
            *(outcome(throttles[n % 2], None, "alice@example.com") for n in range(40))
        )
    finally:
        await other.dispose()
    assert results.count(None) == 5
    assert all(wait == 60 for wait in results if wait is not None)


async def test_rows_past_their_window_are_purged_a_batch_at_a_time(database: Database) -> None:
    clock = Clock()
    throttle = TableThrottle(settings(login_account_window_seconds=20), database.engine, clock=clock)
    for n in range(PURGE_BATCH + 20):
        await outcome(throttle, None, f"user{n}@example.com")
    await outcome(throttle, "192.0.2.1", None)
    assert await _rows(database.engine) == PURGE_BATCH + 21
    clock.now += 20.5
    await outcome(throttle, None, "late@example.com")  # purges 100 stale accounts, not the address
    assert await _rows(database.engine) == 20 + 1 + 1
    await outcome(throttle, None, "later@example.com")
    assert await _rows(database.engine) == 1 + 2  # the stale address waits for an address's attempt


async def test_the_table_holds_no_email_in_clear(database: Database) -> None:
    await outcome(TableThrottle(settings(), database.engine), "192.0.2.1", "alice@example.com")
    async with database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT kind, key FROM login_attempts ORDER BY kind"))).all()
    assert [tuple(row) for row in rows] == [
        (Kind.ACCOUNT, row_key("alice@example.com")),
        (Kind.ADDRESS, row_key("192.0.2.1")),
    ]


def test_long_keys_have_a_fixed_size() -> None:
    assert len(row_key("\ufdfa" * 254 + "@example.com")) == 64
