"""Running a prebuilt read statement, straight on the driver where that is safe.

SQLAlchemy's execution (an execution context, a cursor adapter through a greenlet, a result
fetched row by row) costs about 0.25 ms of CPU a statement on this kind of machine, more than
asyncpg takes to send it and decode its rows. A read in an autocommit session on PostgreSQL
needs none of it: the statement, compiled once, runs on the session's own asyncpg connection.
Everything else, and SQLite always, goes through `session.execute`. Either way the rows come
back as the same records (`db.statements.records`).

What SQLAlchemy would do around a statement is kept: the engine's `before_cursor_execute`
listeners hear it (statement counts), bind processors run, a connection that failed is
invalidated, and errors arrive as `DBAPIError`s, so `db.availability` reads them as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import Connection, Dialect, Executable, event, exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Select

from db.statements import Record, record_maker, records


class ReadSession(Session):
    """The sessions of `db.engine.Database.readers`: they only read, in autocommit.

    Each remembers its connection's driver connection for as long as it holds that
    connection (until its transaction ends, at `close`): asking the session for it again
    costs a greenlet round trip through its transaction machinery on every statement.
    """

    driver: tuple[Connection, asyncpg.Connection] | None = None


@event.listens_for(ReadSession, "after_transaction_end")
def _forget_driver(session: ReadSession, _: SessionTransaction) -> None:
    session.driver = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled for asyncpg: its SQL, how to order and convert its parameters, and
    how to make records of its rows."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]
    make: Callable[[Sequence[Any]], Record]

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


async def fetch(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], parameters: Mapping[str, Any]
) -> list[Record]:
    """The rows of `stmt` as records."""
    reader = session.sync_session
    if isinstance(reader, ReadSession):
        if reader.driver is None:
            reader.driver = await _driver_of(session)
        sync, driver = reader.driver
        prepared = _prepare(stmt, sync.dialect) if driver is not None else None
        if prepared is not None:
            return await _fetch(session, sync, driver, prepared, parameters)
    return records(await session.execute(stmt, parameters))


async def _driver_of(session: AsyncSession) -> tuple[Connection, asyncpg.Connection | None]:
    connection = await session.connection()
    sync = connection.sync_connection
    assert sync is not None
    if sync.dialect.driver != "asyncpg":
        return sync, None
    return sync, sync.connection.driver_connection  # checked out already: no I/O


async def _fetch(
    session: AsyncSession,
    sync: Connection,
    driver: asyncpg.Connection,
    prepared: _Prepared,
    parameters: Mapping[str, Any],
) -> list[Record]:
    arguments = prepared.arguments(parameters)
    sync.dispatch.before_cursor_execute(sync, None, prepared.sql, arguments, None, False)
    try:
        rows = await driver.fetch(prepared.sql, *arguments)
    except Exception as error:
        raise await _failed(session, driver, prepared.sql, arguments, error) from error
    make = prepared.make
    return [make(row) for row in rows]


async def _failed(
    session: AsyncSession, driver: asyncpg.Connection, sql: str, arguments: list[Any], error: Exception
) -> exc.DBAPIError:
    """`error` as SQLAlchemy would raise it. Unless the server refused the statement and kept
    the connection, the connection is in an unknown state (a socket error, a client-side
    timeout, the server going away: class 08 or 57P0x): it is invalidated, so the pool never
    lends it again."""
    sqlstate = getattr(error, "sqlstate", None) if isinstance(error, asyncpg.PostgresError) else None
    lost = sqlstate is None or sqlstate.startswith(("08", "57P0")) or driver.is_closed()
    if lost:
        await (await session.connection()).invalidate(error)
    return exc.DBAPIError(sql, arguments, error, connection_invalidated=lost)


def is_prepared(stmt: Executable, dialect: Dialect) -> bool:
    """Whether `fetch` runs `stmt` on the driver (for tests)."""
    return isinstance(stmt, Select) and _prepare(stmt, dialect) is not None
