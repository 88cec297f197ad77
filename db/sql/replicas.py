"""Streaming replicas for a request's reads, and reading one's own writes (README "Scaling out").

- Where reads go. One pool of connections to the replicas (`ReplicaSet.engine`): each new
  connection goes to the next replica in turn, skipping one that failed within the cooldown
  (a refused connection, a connection lost while pooled or mid-read); with none left it goes
  to the primary, the last resort. A pooled connection to a replica that failed since, or
  to the primary while a replica may be back, is dropped when it is next checked out, and
  its replacement chosen again.
- Reading one's own writes. A replica replays the primary's WAL some time after each commit.
  After a committed mutation the server learns where the primary's WAL ends
  (`pg_current_wal_insert_lsn()`, past the commit), sends it back in the
  `Conduit-Write-Position` header, and remembers it for the viewer for a grace period (in
  this process's memory). A request that carries the header, or whose viewer wrote within
  the grace period, reads from the primary until every replica has replayed past that
  position (`pg_last_wal_replay_lsn()`, asked of each replica at most every
  `REPLAY_CHECK_SECONDS`, in the background; until an answer says so, the primary). A
  replica's replay only moves forward, so an old answer may send a read to the primary
  needlessly, never to a replica that has not replayed the write.
- Mutation operations read and write on the primary, in their transaction (graph/mutations.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import asyncpg
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from db.settings import Settings
from db.sql.availability import database_unavailable
from db.sql.fetch import Reader
from db.sql.reads import RequestReads

T = TypeVar("T")
log = logging.getLogger("conduit.replicas")

HEADER: Final = "Conduit-Write-Position"
WRITE_POSITION_SQL: Final = "SELECT pg_current_wal_insert_lsn()::text"
REPLAY_POSITION_SQL: Final = (
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text"
)
#: How old a replica's known replay position may be before it is asked again.
REPLAY_CHECK_SECONDS: Final = 0.2
#: Viewers remembered for their grace period, at most (the oldest are forgotten first).
MAX_REMEMBERED_VIEWERS: Final = 100_000
#: A write whose position could not be learnt: the viewer reads the primary for the grace period.
UNKNOWN_POSITION: Final = 2**64 - 1
_DBAPI_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


def parse_position(text: object) -> int:
    """A WAL position as PostgreSQL writes it (`16/B374D848`) as a number; ValueError if not."""
    if not isinstance(text, str):
        raise ValueError("not a WAL position")
    high, low = text.split("/")
    if not (0 < len(high) <= 8 and 0 < len(low) <= 8):
        raise ValueError("not a WAL position")
    return int(high, 16) << 32 | int(low, 16)


def format_position(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


class _Server:
    """One replica: where it is, whether it failed lately, how far it has replayed."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.name = f"{parsed.host}:{parsed.port or 5432}"
        self.down_until = 0.0
        self.replayed = -1
        self.monitor: asyncpg.Connection | None = None


class ServerConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that knows which replica it is on (None: the primary)."""

    server: _Server | None = None


class ReplicaSet:
    """The replicas of DATABASE_REPLICA_URLS (see the module's doc)."""

    def __init__(self, settings: Settings, connect_arguments: dict[str, Any], primary: AsyncEngine) -> None:
        self._servers = [_Server(url) for url in settings.database_replica_urls]
        self._primary_dsn = make_url(settings.database_url).set(drivername="postgresql")
        self._cooldown = settings.database_replica_cooldown_seconds
        self._grace = settings.database_replica_grace_seconds
        self._driver_arguments = {k: v for k, v in connect_arguments.items() if k not in _DBAPI_ONLY}
        dbapi_arguments = {k: v for k, v in connect_arguments.items() if k in _DBAPI_ONLY}
        self._turn = 0
        self._checked_at = float("-inf")
        self._checking: asyncio.Task[None] | None = None
        self._recent: OrderedDict[int, tuple[int, float]] = OrderedDict()
        dbapi = primary.sync_engine.dialect.dbapi
        assert dbapi is not None

        def creator() -> DBAPIConnection:
            connection: DBAPIConnection = dbapi.connect(async_creator_fn=self._connect, **dbapi_arguments)
            return connection

        self.engine = create_async_engine(
            primary.url,
            creator=creator,
            isolation_level="AUTOCOMMIT",
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            hide_parameters=True,
        )
        event.listen(self.engine.sync_engine, "checkout", self._leave_if_moved)
        event.listen(self.engine.sync_engine, "invalidate", self._on_invalidated)

    # Choosing a server for a new connection.

    async def _connect(self) -> asyncpg.Connection:
        """A connection to the next replica that has not failed lately, else to the primary."""
        now = time.monotonic()
        start, self._turn = self._turn, self._turn + 1
        count = len(self._servers)
        for server in (self._servers[(start + i) % count] for i in range(count)):
            if server.down_until > now:
                continue
            try:
                connection = await asyncpg.connect(
                    server.dsn, connection_class=ServerConnection, **self._driver_arguments
                )
            except (OSError, TimeoutError, asyncpg.PostgresError) as error:
                self._failed(server, error)
                continue
            connection.server = server
            return connection
        dsn = self._primary_dsn.render_as_string(hide_password=False)
        primary: asyncpg.Connection = await asyncpg.connect(
            dsn, connection_class=ServerConnection, **self._driver_arguments
        )
        return primary

    def _failed(self, server: _Server, error: BaseException | None) -> None:
        if server.down_until <= time.monotonic():
            kind = type(error).__name__ if error is not None else "lost"
            log.warning("replica %s failed (%s); skipped for %s s", server.name, kind, self._cooldown)
        server.down_until = time.monotonic() + self._cooldown

    def _leave_if_moved(self, dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry, __: object) -> None:
        """Drop a pooled connection that is closed, on a replica that failed since it was
        made, or on the primary (a last resort) while a replica may be back."""
        driver = getattr(dbapi_connection, "driver_connection", None)
        server = getattr(driver, "server", None)
        now = time.monotonic()
        if driver is None or driver.is_closed():
            reason = "the connection is closed"
        elif server is not None and server.down_until > now:
            reason = "its replica failed"
        elif server is None and any(replica.down_until <= now for replica in self._servers):
            reason = "a replica may be back"
        else:
            return
        raise exc.DisconnectionError(reason)

    def _on_invalidated(
        self, dbapi_connection: DBAPIConnection | None, _: ConnectionPoolEntry, error: object
    ) -> None:
        """A connection lost on a replica marks it failed. Not one dropped at checkout
        (`DisconnectionError`): its replacement's connect says whether the replica is there."""
        server = getattr(getattr(dbapi_connection, "driver_connection", None), "server", None)
        if (
            server is not None
            and isinstance(error, BaseException)
            and not isinstance(error, exc.DisconnectionError)
        ):
            self._failed(server, error)

    # Reading one's own writes.

    def remember(self, viewer_id: int | None, position: int) -> None:
        """`viewer_id` wrote at `position`: their reads go to the primary for the grace period,
        until the replicas replayed past it."""
        if viewer_id is None or not self._grace:
            return
        self._recent.pop(viewer_id, None)
        self._recent[viewer_id] = (position, time.monotonic() + self._grace)
        while len(self._recent) > MAX_REMEMBERED_VIEWERS:
            self._recent.popitem(last=False)

    def must_see(self, viewer_id: int | None, told: int | None) -> int | None:
        """The write position a request's reads must see: the one its client sent back, or
        its viewer's last in this process within the grace period."""
        remembered = self._recent.get(viewer_id) if viewer_id is not None else None
        if remembered is not None and remembered[1] < time.monotonic():
            del self._recent[viewer_id]  # type: ignore[arg-type]
            remembered = None
        positions = [p for p in (told, remembered[0] if remembered else None) if p is not None]
        return max(positions) if positions else None

    def caught_up(self, position: int) -> bool:
        """Whether every replica is known to have replayed past `position`. The answer is
        what was last learnt; an older one than `REPLAY_CHECK_SECONDS` starts a new check."""
        if time.monotonic() - self._checked_at > REPLAY_CHECK_SECONDS and self._checking is None:
            self._checking = asyncio.get_running_loop().create_task(self._check(), name="replay-check")
        return all(server.replayed >= position for server in self._servers)

    async def _check(self) -> None:
        try:
            await asyncio.gather(*(self._ask(server) for server in self._servers))
        finally:
            self._checked_at = time.monotonic()
            self._checking = None

    async def _ask(self, server: _Server) -> None:
        """Learn how far `server` has replayed, on a connection of its own kept for this."""
        try:
            async with asyncio.timeout(self._driver_arguments.get("timeout", 2) + 1):
                if server.monitor is None or server.monitor.is_closed():
                    arguments = {**self._driver_arguments, "statement_cache_size": 0}
                    server.monitor = await asyncpg.connect(server.dsn, **arguments)
                replayed = parse_position(await server.monitor.fetchval(REPLAY_POSITION_SQL))
                server.replayed = max(server.replayed, replayed)
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._failed(server, error)
            await self._close_monitor(server)

    async def _close_monitor(self, server: _Server) -> None:
        monitor, server.monitor = server.monitor, None
        if monitor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(monitor.close(), 2)
            monitor.terminate()

    async def dispose(self) -> None:
        if self._checking is not None:
            with contextlib.suppress(Exception):
                await self._checking
        for server in self._servers:
            await self._close_monitor(server)
        await self.engine.dispose()


def replica_failed(error: BaseException) -> bool:
    """A read that another server may answer: the replica is unreachable or lost the
    connection, or cancelled the read for a conflict with recovery (SQLSTATE 40001); not a
    statement timeout, which the primary would only wait out again."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate == "57014":
        return False
    return sqlstate == "40001" or database_unavailable(error)


class RoutedReads:
    """A request's `RequestReads` on a replica, or on the primary: when `must_see()` names a write
    position the replicas have not all replayed, or once a read on a replica failed (that
    read runs again on the primary). Over HTTP (`hold`) the choice holds for the request;
    otherwise (a WebSocket's long-lived context) it is made for each read."""

    def __init__(
        self, replicas: ReplicaSet, primary: AsyncEngine, *, hold: bool, must_see: Callable[[], int | None]
    ) -> None:
        self._replicas = replicas
        self._on_replica = RequestReads(replicas.engine, hold=hold)
        self._on_primary = RequestReads(primary, hold=hold)
        self._hold = hold
        self._must_see = must_see
        self._chosen: RequestReads | None = None

    @property
    def on_replica(self) -> bool | None:
        """Where this request's reads went (None: nowhere yet, or chosen per read)."""
        return None if self._chosen is None else self._chosen is self._on_replica

    def _route(self) -> RequestReads:
        if self._chosen is not None:
            return self._chosen
        position = self._must_see()
        reads = self._on_replica
        if position == UNKNOWN_POSITION or (position is not None and not self._replicas.caught_up(position)):
            reads = self._on_primary
        if self._hold:
            self._chosen = reads
        return reads

    async def run(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        reads = self._route()
        if reads is self._on_primary:
            return await reads.run(read)
        try:
            return await reads.run(read)
        except Exception as error:
            if not replica_failed(error):
                raise
            log.warning("a read on a replica failed (%s); the primary answers", type(error).__name__)
        if self._hold:
            self._chosen = self._on_primary
        return await self._on_primary.run(read)

    async def close(self) -> None:
        try:
            await self._on_replica.close()
        finally:
            await self._on_primary.close()
