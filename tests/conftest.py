"""Fixtures and hooks only: every database test runs on SQLite and on PostgreSQL.

What tests import (settings_for, engine_url, empty_tables, StatementCounter, factories,
servers) is in tests/support/; no test imports from this module.

Loader batches use sessions of their own, so tests isolate by emptying the tables before
each test rather than by rolling back a shared transaction.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from db.migrate import upgrade
from db.settings import Settings
from db.sql.engine import Database
from graph.app import create_app
from tests.support import tools
from tests.support.counting import StatementCounter
from tests.support.databases import drop_created_databases
from tests.support.engines import (
    POSTGRES_SOURCE,
    POSTGRES_URL,
    drop_everything,
    empty_tables,
    engine_url,
    settings_for,
)
from tests.support.pgservers import Replication, initdb_problem, pgbouncer, replication, url_on_port

ENGINES = ["sqlite", "postgresql"]


def pytest_report_header() -> list[str]:
    if POSTGRES_URL is None:
        postgres = f"PostgreSQL: not available ({POSTGRES_SOURCE}); its tests are skipped"
    else:
        postgres = f"PostgreSQL: {POSTGRES_SOURCE}"
    return [postgres, tools.report_header()]


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_created_databases()


def pytest_sessionstart(session: pytest.Session) -> None:
    if POSTGRES_URL is None and os.environ.get("REQUIRE_POSTGRES") == "1":
        raise pytest.UsageError(f"REQUIRE_POSTGRES=1 but PostgreSQL is missing: {POSTGRES_SOURCE}")
    missing = tools.missing_tools()
    if missing and os.environ.get("REQUIRE_CLIENT_TOOLS") == "1":
        problems = "; ".join(f"{name}: {problem}" for name, problem in missing.items())
        raise pytest.UsageError(f"REQUIRE_CLIENT_TOOLS=1 but client tools are missing: {problems}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `node`/`browser` are skipped, with the reason, where the tool is missing."""
    for item in items:
        reason = tools.skip_reason(item)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "conduit.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session", params=ENGINES)
def migrated_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """A database at the head revision, made once per engine for the whole run."""
    url = engine_url(request.param, sqlite_url)
    asyncio.run(drop_everything(url)) if request.param == "postgresql" else None
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def bouncer_url(sqlite_url: str) -> Iterator[str]:
    """The PostgreSQL test database through a PgBouncer in transaction mode (tests marked
    `pgbouncer`; the `migrated_url` fixture migrates it first, when a test takes both)."""
    direct = engine_url("postgresql", sqlite_url)
    with pgbouncer(direct) as port:
        yield url_on_port(direct, port)


@pytest.fixture(scope="session")
def replicated() -> Iterator[Replication]:
    """A primary and a streaming standby of their own, migrated (`conduit` database)."""
    problem = initdb_problem()
    if problem is not None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but no replica can be made: {problem}")
        pytest.skip(f"no streaming replica: {problem}")
    with replication() as servers:
        asyncio.run(servers.create_database())
        upgrade(servers.primary_url)
        yield servers


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    return settings_for(migrated_url)


@pytest.fixture
async def postgres_database(sqlite_url: str) -> AsyncIterator[Database]:
    """A `Database` on PostgreSQL alone, for what only a server can do (drop a connection, say)."""
    database = Database.from_settings(settings_for(engine_url("postgresql", sqlite_url)))
    yield database
    await database.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await empty_tables(application)
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        yield http


@pytest.fixture
def engine_name(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgresql"


@pytest.fixture
def statements(app: FastAPI) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    sync_engine = app.state.services.database.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(sync_engine, "before_cursor_execute", counter)
