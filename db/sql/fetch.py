"""Running a prebuilt read statement, straight on the driver where that is safe.

SQLAlchemy's execution (an execution context, a cursor adapter through a greenlet, a result
fetched row by row) costs about 0.25 ms of CPU a statement on this kind of machine, more than
asyncpg takes to send it and decode its rows. A request's read in autocommit on PostgreSQL
needs none of it: the statement, compiled once, runs on its `ReadConnection`'s own asyncpg
connection. Everything else, SQLite always and a unit of work's reads, goes through
SQLAlchemy's execution. Either way the rows come back as the same records
(`db.sql.statements.records`).

What SQLAlchemy would do around a statement is kept: the engine's `before_cursor_execute`
listeners hear it (statement counts), bind processors run, a connection that failed is
invalidated, and errors arrive as `DBAPIError`s, so `db.sql.availability` reads them as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import Connection, Dialect, Executable, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.util import greenlet_spawn

from db.sql.statements import record_maker, records


class ReadConnection:
    """A pooled connection lent to one request's reads, with no Session around it.

    A request's reads run in autocommit and keep no objects: an AsyncSession would only cost
    its making (~60 µs) and its transaction bookkeeping around the checkout and the checkin
    (~200 µs more). This holds SQLAlchemy's own `Connection`, so checkout and checkin go
    through the pool as always (pings, the engine's execution options, invalidation), and
    statements that cannot run on the driver run through it.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.driver: asyncpg.Connection | None = None
        if self.dialect.driver == "asyncpg":
            self.driver = connection.connection.driver_connection  # checked out already: no I/O

    @classmethod
    async def open(cls, engine: AsyncEngine) -> ReadConnection:
        """A connection checked out of `engine`'s pool; in a greenlet, as the checkout may talk
        to the server (a ping, a new connection) through SQLAlchemy's sync API."""
        return cls(await greenlet_spawn(engine.sync_engine.connect))

    async def execute(self, stmt: Executable, parameters: Mapping[str, Any]) -> list[Any]:
        """`stmt` through SQLAlchemy's execution, on this connection."""
        return await greenlet_spawn(lambda: records(self.connection.execute(stmt, parameters)))

    async def invalidate(self, error: BaseException) -> None:
        await greenlet_spawn(self.connection.invalidate, error)

    async def close(self) -> None:
        await greenlet_spawn(self.connection.close)


Reader = AsyncSession | ReadConnection
"""What a read runs on: a request's `ReadConnection`, or a unit of work's session (whose reads
must see its own writes, inside its transaction)."""


def dialect_of(reader: Reader) -> Dialect:
    """The SQL dialect `reader` speaks."""
    return reader.dialect if isinstance(reader, ReadConnection) else reader.get_bind().dialect


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled for asyncpg: its SQL, how to order and convert its parameters, and
    how to make records of its rows."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]
    make: Callable[[Sequence[Any]], Any]

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = {**self.defaults, **parameters}
        convert = self.processors
        return [convert[name](values[name]) if name in convert else values[name] for name in self.names]


@lru_cache(maxsize=512)
def _prepare(stmt: Select[*tuple[Any, ...]], dialect: Dialect) -> _Prepared | None:
    """`stmt` compiled once; None when it needs what only SQLAlchemy's execution gives (lists
    expanded into IN, values converted as they are read)."""
    compiled = stmt.compile(dialect=dialect)
    if compiled.positiontup is None or any(bind.expanding for bind in compiled.binds.values()):
        return None
    columns = stmt.selected_columns
    if any(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns):
        return None
    binds = compiled.binds
    processors = {name: _bind_processor(bind.type, dialect) for name, bind in binds.items()}
    return _Prepared(
        sql=compiled.string,
        names=tuple(compiled.positiontup),
        defaults={name: bind.effective_value for name, bind in binds.items() if not bind.required},
        processors={name: process for name, process in processors.items() if process is not None},
        make=record_maker(tuple(columns.keys())),
    )


def _bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


async def fetch(reader: Reader, stmt: Select[*tuple[Any, ...]], parameters: Mapping[str, Any]) -> list[Any]:
    """The rows of `stmt` as records (db/sql/statements.py), typed by the caller, which knows
    the statement's columns (db/rows.py)."""
    if isinstance(reader, AsyncSession):
        return records(await reader.execute(stmt, parameters))
    prepared = _prepare(stmt, reader.dialect) if reader.driver is not None else None
    if prepared is None:
        return await reader.execute(stmt, parameters)
    return await _fetch(reader, reader.driver, prepared, parameters)


async def _fetch(
    reader: ReadConnection, driver: asyncpg.Connection, prepared: _Prepared, parameters: Mapping[str, Any]
) -> list[Any]:
    arguments = prepared.arguments(parameters)
    sync = reader.connection
    sync.dispatch.before_cursor_execute(sync, None, prepared.sql, arguments, None, False)
    try:
        rows = await driver.fetch(prepared.sql, *arguments)
    except Exception as error:
        raise await _failed(reader, driver, prepared.sql, arguments, error) from error
    make = prepared.make
    return [make(row) for row in rows]


async def _failed(
    reader: ReadConnection, driver: asyncpg.Connection, sql: str, arguments: list[Any], error: Exception
) -> exc.DBAPIError:
    """`error` as SQLAlchemy would raise it. Unless the server refused the statement and kept
    the connection, the connection is in an unknown state (a socket error, a client-side
    timeout, the server going away: class 08 or 57P0x): it is invalidated, so the pool never
    lends it again."""
    sqlstate = getattr(error, "sqlstate", None) if isinstance(error, asyncpg.PostgresError) else None
    lost = sqlstate is None or sqlstate.startswith(("08", "57P0")) or driver.is_closed()
    if lost:
        await reader.invalidate(error)
    return exc.DBAPIError(sql, arguments, error, connection_invalidated=lost)


def is_prepared(stmt: Executable, dialect: Dialect) -> bool:
    """Whether `fetch` runs `stmt` on the driver (for tests)."""
    return isinstance(stmt, Select) and _prepare(stmt, dialect) is not None
