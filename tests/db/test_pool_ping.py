"""PostgreSQL connections are pinged at checkout only after sitting idle (db.sql.engine).

SQLite has no pool ping: its connections are files, not sockets a server can drop.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError

import db.sql.engine
from db.sql.engine import Database
from tests.support.databases import terminate_backend
from tests.support.engines import engine_url, settings_for
from tests.support.proxy import Proxy


async def _backend_pid(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_busy_connection_is_not_pinged(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    original = AsyncAdapt_asyncpg_connection.ping

    def counted(connection: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(connection)
        original(connection)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    for _ in range(5):
        await _backend_pid(postgres_database)
    assert pings == []
    monkeypatch.setattr(db.sql.engine, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had sat idle
    await _backend_pid(postgres_database)
    assert len(pings) == 1


async def test_an_idle_connection_killed_by_the_server_is_replaced(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = await _backend_pid(postgres_database)
    await terminate_backend(postgres_database.engine.url.render_as_string(False), pid)
    monkeypatch.setattr(db.sql.engine, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert await _backend_pid(postgres_database) != pid


async def test_without_the_ping_the_dead_connection_fails_its_statement(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the ping is for: a dropped connection handed out unchecked fails the request."""
    pid = await _backend_pid(postgres_database)
    await terminate_backend(postgres_database.engine.url.render_as_string(False), pid)
    monkeypatch.setattr(db.sql.engine, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with pytest.raises(DBAPIError):
        await _backend_pid(postgres_database)
    assert await _backend_pid(postgres_database) != pid  # the failure invalidated it: the next one is fresh


async def test_a_connection_to_a_silent_host_is_dropped_at_once(sqlite_url: str) -> None:
    """Invalidating it closes the socket now: SQLAlchemy's polite close would wait 2 s for a
    goodbye the vanished host never sends, and the failing request with it."""
    url = make_url(engine_url("postgresql", sqlite_url))
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    database = Database.from_settings(settings_for(proxied))
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            driver = (await connection.get_raw_connection()).driver_connection
            await proxy.blackhole()
            started = time.monotonic()
            await connection.invalidate()
            # The polite close waits 2 s whatever the load: anything well short of that is "at once".
            assert time.monotonic() - started < 1.5
            assert driver is not None and driver.is_closed()
    finally:
        await database.dispose()
        await proxy.stop()
