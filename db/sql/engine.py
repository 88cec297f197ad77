"""The engine and the ways of using it: reads in autocommit (a request's `RequestReads`,
db/sql/reads.py, or a `read_session()`), and one unit of work per write (`Transaction`, whose
reads are its `UnitOfWorkReads`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, event, exc, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from db.settings import Settings
from db.sql.reads import RequestReads, UnitOfWorkReads
from db.sql.replicas import WRITE_POSITION_SQL, ReplicaSet, RoutedReads, parse_position

T = TypeVar("T")
#: How long disposing of the engine waits for connections still lent out (`Database.dispose`).
DRAIN_SECONDS = 5.0


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine configured for the selected database; SQLite gets foreign keys and WAL.

    Both hide statement parameters from their errors' text (`hide_parameters`): a traceback
    of a failed INSERT would otherwise log an email and a password hash, say.
    """
    if settings.is_sqlite:
        # `timeout` is SQLite's busy timeout: how long a write waits for the one writer before
        # it, as a request waits for a pooled connection on PostgreSQL.
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": settings.db_pool_timeout_seconds},
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        return engine
    engine = create_async_engine(
        settings.database_url,
        # Pooled connections idle in autocommit, so a ping is one round trip (`;`) instead of
        # three (BEGIN, `;`, ROLLBACK); units of work ask for a transaction.
        isolation_level="AUTOCOMMIT",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args=connect_arguments(settings),
        hide_parameters=True,
    )
    watch_pool(engine)
    return engine


def connect_arguments(settings: Settings) -> dict[str, Any]:
    """What every PostgreSQL connection is opened with: asyncpg's arguments, and those of
    SQLAlchemy's adaptation of it (`prepared_statement_*`).

    Through a transaction pooler (`DATABASE_POOLER=transaction`) a server connection serves
    one transaction, then another client's: PgBouncer 1.18 refuses startup parameters it does
    not track (`unsupported startup parameter: statement_timeout`), and a named prepared
    statement made on one server connection is missing on the next ("prepared statement
    does not exist") or clashes with another client's ("already exists"). So no
    `server_settings` (units of work SET LOCAL the timeout, `_set_local_timeout`), and only
    unnamed statements: asyncpg's cache off, SQLAlchemy's too, its statements named "" —
    which asyncpg then parses again in the same round trip as their execution, so a
    statement never outlives the pooler's assignment.
    """
    arguments: dict[str, Any] = {"timeout": settings.db_connect_timeout_seconds}
    pooled = settings.database_pooler == "transaction"
    if settings.db_statement_timeout_ms:
        if not pooled:
            arguments["server_settings"] = {"statement_timeout": str(settings.db_statement_timeout_ms)}
        # The same bound on the driver's side, for a server that vanished and enforces nothing
        # (no answer, no reset); a second later, so that normally the server's own timeout,
        # which leaves the connection usable, comes first. It also bounds the pre-ping, and,
        # through a pooler, a read: the driver cancels the statement (PgBouncer forwards it).
        arguments["command_timeout"] = settings.db_statement_timeout_ms / 1000 + 1
    if pooled:
        arguments |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unnamed,
        }
    return arguments


def _unnamed() -> str:
    return ""


def watch_pool(engine: AsyncEngine) -> None:
    """The pool's listeners: pings of idle connections, and dead ones dropped at once."""
    event.listen(engine.sync_engine, "checkin", _note_idle)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    event.listen(engine.sync_engine, "invalidate", _drop_at_once)


#: A pooled connection that has not served for this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "conduit_idle_since"


def _note_idle(_: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _: object) -> None:
    """The pool's pre-ping, for connections that sat idle only.

    A connection that served a request a moment ago is alive; pinging it anyway costs a round
    trip on every request, a third of those a small query makes. One idle for a while may have
    been dropped (the server restarted, a firewall forgot it): it is pinged, and a dead one is
    replaced, as `pool_pre_ping` would. A connection that dies while busy fails its statement,
    which invalidates the whole pool, so the next checkouts connect afresh.
    """
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as error:
        raise exc.DisconnectionError("the pooled connection did not answer its ping") from error


def _drop_at_once(dbapi_connection: DBAPIConnection | None, _: ConnectionPoolEntry, __: object) -> None:
    """Close an invalidated connection's socket now, not after a polite goodbye.

    SQLAlchemy otherwise closes it gracefully, waiting up to 2 s for a server that, when the
    connection is being invalidated, has usually stopped answering; the request that hit the
    failure would wait those 2 s before it could report it.
    """
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    if driver_connection is not None and not driver_connection.is_closed():
        driver_connection.terminate()


def _configure_sqlite(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
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


def _set_local_timeout(milliseconds: int) -> Callable[[Connection], None]:
    """A listener that bounds each statement of a transaction, as `server_settings` would
    for the whole connection: through a pooler, the only place a setting holds."""
    statement = f"SET LOCAL statement_timeout = {int(milliseconds)}"

    def begin(connection: Connection) -> None:
        connection.exec_driver_sql(statement)

    return begin


def _nothing() -> int | None:
    return None


class WriteQueue:
    """SQLite's units of work, one at a time in this process, in the order they arrive.

    SQLite lets one transaction write at a time. A writer that finds the lock taken polls for
    it with growing sleeps (the busy handler), and newcomers overtake it: under load some
    writers wait past the busy timeout while later ones go through. Queued here instead, each
    waits its turn; only writers of other processes still meet the busy handler. The wait is
    bounded like a pool checkout, and fails the same way (SQLAlchemy's `TimeoutError`).
    """

    def __init__(self, timeout_seconds: float) -> None:
        self._lock = asyncio.Lock()
        self._timeout = timeout_seconds

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise exc.TimeoutError(f"no turn to write within {self._timeout} s") from None
        try:
            yield
        finally:
            self._lock.release()


@dataclass(frozen=True, slots=True)
class Database:
    """The engine with its session factories; made in the app's lifespan and disposed there."""

    engine: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    """Sessions in a transaction, for units of work (`Transaction`)."""
    read_sessions: async_sessionmaker[AsyncSession]
    """Sessions in autocommit, for reads outside a request (`read_session`)."""
    read_engine: AsyncEngine
    """The engine in autocommit, which `read_sessions` and a request's `RequestReads` use."""
    sqlite_write_queue: WriteQueue | None = None
    """SQLite only (see `WriteQueue`)."""
    replicas: ReplicaSet | None = None
    """DATABASE_REPLICA_URLS: where a request's reads go, unless they must see a write."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_engine(settings)
        # Reads run in autocommit: one statement needs no BEGIN and ROLLBACK round trips. On
        # PostgreSQL that is the engine's own level (see `create_engine`), writes opt out.
        if settings.is_sqlite:
            reads, writes = engine.execution_options(isolation_level="AUTOCOMMIT"), engine
        else:
            reads, writes = engine, engine.execution_options(isolation_level="READ COMMITTED")
        if settings.database_pooler == "transaction" and settings.db_statement_timeout_ms:
            # Only these transactions: listeners of an engine made by `execution_options`
            # are its own, and the reads in autocommit have no transaction to SET LOCAL in.
            event.listen(writes.sync_engine, "begin", _set_local_timeout(settings.db_statement_timeout_ms))
        replicas = None
        if settings.database_replica_urls:
            replicas = ReplicaSet(settings, connect_arguments(settings), engine)
            watch_pool(replicas.engine)
        return cls(
            engine,
            async_sessionmaker(writes, expire_on_commit=False, autoflush=False),
            async_sessionmaker(reads, expire_on_commit=False, autoflush=False),
            reads,
            WriteQueue(settings.db_pool_timeout_seconds) if settings.is_sqlite else None,
            replicas,
        )

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A short-lived session for one batch of reads, on the primary (what it reads may
        have been committed a moment ago: a login's account, a comment just announced);
        never shared between coroutines."""
        async with self.read_sessions() as session:
            yield session

    def request_reads(
        self, *, hold: bool, must_see: Callable[[], int | None] = _nothing
    ) -> RequestReads | RoutedReads:
        """The reads of one request or operation (see `RequestReads`): on a replica when there are
        some, unless `must_see()` names a write position they have not replayed yet."""
        if self.replicas is None:
            return RequestReads(self.read_engine, hold=hold)
        return RoutedReads(self.replicas, self.read_engine, hold=hold, must_see=must_see)

    async def write_position(self) -> int:
        """Where the primary's WAL ends now: past every transaction committed before."""
        async with self.engine.connect() as connection:
            return parse_position(await connection.scalar(text(WRITE_POSITION_SQL)))

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        transaction = await Transaction.begin(self)
        try:
            yield transaction.session
        except BaseException:
            await transaction.rollback()
            raise
        await transaction.commit()

    async def dispose(self, *, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Close the pool once the connections lent out are back, waiting at most
        `drain_seconds`: at shutdown a task may still be finishing (a subscription being
        cancelled gives its read back), and a connection the pool no longer knows is closed
        only by the garbage collector, with a warning, whenever it runs."""
        pool = self.engine.sync_engine.pool
        deadline = time.monotonic() + drain_seconds
        while isinstance(pool, QueuePool) and pool.checkedout() and time.monotonic() < deadline:  # noqa: ASYNC110 (a pool's checkins have nothing to await)
            await asyncio.sleep(0.01)
        await self.engine.dispose()
        if self.replicas is not None:
            await self.replicas.dispose()


class Transaction:
    """A unit of work held open across the steps of a request, ended explicitly.

    A mutation operation writes in one, reads its payload through it and commits only once its
    response is built (graph/mutations.py). On SQLite it holds this process's write turn
    (`WriteQueue`) from `begin` to its end.
    """

    def __init__(self, session: AsyncSession, resources: AsyncExitStack) -> None:
        self.session = session
        self.reads = UnitOfWorkReads(session)
        self._resources = resources

    @classmethod
    async def begin(cls, database: Database) -> Transaction:
        resources = AsyncExitStack()
        try:
            if database.sqlite_write_queue is not None:
                await resources.enter_async_context(database.sqlite_write_queue.turn())
            session = await resources.enter_async_context(database.write_sessions())
            await session.begin()
            if database.engine.dialect.name == "sqlite":
                await session.connection(execution_options={_WRITE: True})
        except BaseException:
            await resources.aclose()
            raise
        return cls(session, resources)

    async def commit(self) -> None:
        """COMMIT; the session is closed and the write turn given back either way."""
        try:
            await self.reads.close()
            await self.session.commit()
        finally:
            await self._resources.aclose()

    async def rollback(self) -> None:
        """Closing the session rolls its transaction back. A ROLLBACK that fails (the connection
        was lost) has nothing left to undo: the connection is discarded, the error dropped, so
        that it never hides the error that made the caller roll back."""
        try:
            await self.reads.close()
        finally:
            with suppress(exc.DBAPIError, OSError):
                await self._resources.aclose()
