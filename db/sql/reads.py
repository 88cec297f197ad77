"""What a request's reads run through, one read at a time.

The vocabulary of reads, in db/ and its callers:

- a *read* is a function of a `Reader` (db/sql/fetch.py): what one read statement runs on, a
  request's `ReadConnection` or a unit of work's session;
- a `ReadRunner` runs reads, lending its reader to one read at a time: a request's
  `RequestReads` (its own read connection in autocommit, or `RoutedReads` on a replica,
  db/sql/replicas.py), or a unit of work's `UnitOfWorkReads`, through its session, so that it
  reads what it wrote;
- `Database.read_sessions` and `Database.write_sessions` are the sessionmakers, for reads
  outside a request and for units of work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.sql.availability import database_unavailable
from db.sql.fetch import ReadConnection, Reader

T = TypeVar("T")


class ReadRunner(Protocol):
    """Runs a read on what a request reads through: `RequestReads` (or `RoutedReads`), or
    `UnitOfWorkReads`."""

    async def run(self, read: Callable[[Reader], Awaitable[T]]) -> T: ...


class UnitOfWorkReads:
    """A unit of work's reads, through its session, so they see its writes: one at a time (a
    session never serves two coroutines at once), each shielded like `RequestReads.run`'s."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._lock = asyncio.Lock()
        self._closed = False

    async def run(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        task = asyncio.ensure_future(self._read(read))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _read(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        async with self._lock:
            if self._closed:
                raise exc.InvalidRequestError("the unit of work these reads belonged to has ended")
            return await read(self._session)

    async def idle(self) -> None:
        """Returns once no read is in flight: the session may write."""
        async with self._lock:
            pass

    async def close(self) -> None:
        """Wait for the read in flight (a cancelled caller's goes on, shielded), refuse later
        ones: the transaction may end only once its connection is idle."""
        async with self._lock:
            self._closed = True


class RequestReads:
    """The reads of one request, one at a time, on one connection in autocommit.

    A request's loads would otherwise each check a connection out of the pool (and ping it,
    when it sat idle): one checkout per request instead of one per batch. With
    `hold`, the connection is kept until `close` (the end of the request); without, it is
    given back after every read, for contexts that live long, like a WebSocket's.
    A read that fails drops the connection, so the next one starts on a fresh one; once a
    request's read found the database unavailable, its later reads fail at once instead of
    each waiting out the timeouts again.
    """

    def __init__(self, engine: AsyncEngine, *, hold: bool) -> None:
        self._engine = engine
        self._hold = hold
        self._connection: ReadConnection | None = None
        self._lock = asyncio.Lock()
        self._outage: BaseException | None = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[ReadConnection]:
        """The connection, to this caller alone until the block ends: it must never serve two
        coroutines at once."""
        async with self._lock:
            if self._outage is not None:
                earlier = "the database was unavailable earlier in this request"
                raise exc.TimeoutError(earlier) from self._outage
            if self._connection is None:
                self._connection = await ReadConnection.open(self._engine)
            try:
                yield self._connection
            except BaseException as error:
                if self._hold and database_unavailable(error):
                    self._outage = error
                await self._close()
                raise
            if not self._hold:
                await self._close()

    async def run(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        """`read(connection)`, through `connection`, in a task of its own.

        A caller may be cancelled halfway, as graphql-core cancels sibling fields when one
        fails. Cut in the middle of a pool checkout, the connection would never be given back.
        So the read is shielded: it runs to its end and gives back what it took; only its
        result is dropped.
        """
        task = asyncio.ensure_future(self._read(read))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _read(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        async with self.connection() as connection:
            return await read(connection)

    async def close(self) -> None:
        """Give the connection back to the pool. A read that comes later still works but holds
        nothing: a load that outlived its request (a sibling field cancelled mid-batch, say)
        must not check out a connection nobody will give back."""
        async with self._lock:
            self._hold = False
            await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a shielded read's failure as seen: its caller may have stopped waiting for it."""
    if not task.cancelled():
        task.exception()
