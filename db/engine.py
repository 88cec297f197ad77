"""The engine and the two ways of using it: short read sessions and one unit of work per write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from db.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine configured for the selected database; SQLite gets foreign keys and WAL."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url, connect_args={"timeout": settings.db_pool_timeout_seconds}
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        return engine
    connect_args: dict[str, Any] = {"timeout": settings.db_pool_timeout_seconds}
    if settings.db_statement_timeout_ms:
        connect_args["server_settings"] = {"statement_timeout": str(settings.db_statement_timeout_ms)}
    return create_async_engine(
        settings.database_url,
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args=connect_args,
    )


def _configure_sqlite(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.close()
    # The driver's own transaction handling emits no BEGIN before a SAVEPOINT, so the RELEASE
    # of the first SAVEPOINT would commit the whole unit of work; `_begin_sqlite` begins instead.
    dbapi_connection.isolation_level = None


_WRITE = "conduit_unit_of_work"


def _begin_sqlite(connection: Connection) -> None:
    """Begin transactions explicitly; a unit of work takes the write lock up front, so it never
    fails for having read an older snapshot than the writer before it committed. Autocommit
    connections (the read sessions) begin nothing."""
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE, False) else "BEGIN")


@dataclass(frozen=True, slots=True)
class Database:
    """The engine with its session factory; made in the app's lifespan and disposed there."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_engine(settings)
        # Reads run in autocommit: one statement needs no BEGIN and ROLLBACK round trips.
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        return cls(
            engine,
            async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
            async_sessionmaker(autocommit, expire_on_commit=False, autoflush=False),
        )

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A short-lived session for one batch of reads; never shared between coroutines."""
        async with self.readers() as session:
            yield session

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        async with self.sessions() as session, session.begin():
            if self.engine.dialect.name == "sqlite":
                await session.connection(execution_options={_WRITE: True})
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
