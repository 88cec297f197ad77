"""Where the test databases live: a temporary SQLite file, and PostgreSQL when one answers."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import asyncpg
import pytest
from sqlalchemy.engine import make_url

#: For what only a database server can show (concurrent transactions, a lost connection, several
#: processes): the test takes the `migrated_url` fixture (tests/conftest.py) on PostgreSQL alone.
ONLY_POSTGRESQL = pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)

# One database per test run, so that runs in parallel (several checkouts) never share tables.
DEFAULT_POSTGRES = f"postgresql+asyncpg://postgres@127.0.0.1:5432/conduit_test_{os.getpid()}"


def postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_url() -> tuple[str | None, str]:
    """The PostgreSQL URL to test against, or None with the reason there is none."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return explicit, "TEST_DATABASE_URL"
    if postgres_answers():
        asyncio.run(_create_database(DEFAULT_POSTGRES))
        return DEFAULT_POSTGRES, "127.0.0.1:5432"
    return None, "no TEST_DATABASE_URL and nothing answers on 127.0.0.1:5432"


def scratch_database(url: str, name: str) -> str:
    """A second database on the same server as `url`, named after it (made if missing)."""
    scratch = make_url(url).set(database=f"{make_url(url).database}_{name}")
    asyncio.run(_create_database(scratch.render_as_string(hide_password=False)))
    return scratch.render_as_string(hide_password=False)


def drop_created_databases() -> None:
    """Drop every database this run created, on whichever server: the per-run default and the
    scratch databases (`<db>_migrations`), under TEST_DATABASE_URL too. The TEST_DATABASE_URL
    database itself was given, not created, and is never dropped."""
    given = os.environ.get("TEST_DATABASE_URL")
    kept = make_url(given).database if given else None
    by_server: dict[str, list[str]] = {}
    for name, server in _created.items():
        if name != kept:
            by_server.setdefault(server, []).append(name)
    for server, names in by_server.items():
        asyncio.run(_drop_databases(server, names))
    _created.clear()


#: Database name -> the URL of a database on its server, for each database this run created.
_created: dict[str, str] = {}


async def _admin(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database="postgres",
    )


async def _drop_databases(url: str, names: list[str]) -> None:
    connection = await _admin(url)
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _create_database(url: str) -> None:
    """Create the test database on the server unless it exists."""
    parsed = make_url(url)
    connection = await _admin(url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parsed.database)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{parsed.database}"')
            _created[str(parsed.database)] = url
    finally:
        await connection.close()


async def terminate_backend(url: str, pid: int) -> None:
    """End PostgreSQL backend `pid` from the server's side, as a restart or an admin would."""
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    await connection.execute("SELECT pg_terminate_backend($1)", pid)
    await connection.close()


async def wait_for_a_lock_waiter(connection: asyncpg.Connection, failure: str) -> None:
    """Return once some statement in the database waits on a lock; fail with `failure` after 60 s."""
    waiting = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60  # returns as soon as one waits: generous for a busy machine
    while not await connection.fetchval(waiting):
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.02)
