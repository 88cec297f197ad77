"""What every resolver can reach: the services of the app and the state of one request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from strawberry.types import Info as StrawberryInfo

from db.events import CommentEvents
from db.passwords import Passwords
from db.rows import AuthorRow
from db.settings import Settings
from db.sql.engine import Database, Transaction
from db.sql.fetch import Reader
from db.sql.reads import ReadRunner, RequestReads
from db.sql.replicas import HEADER as WRITE_POSITION
from db.sql.replicas import UNKNOWN_POSITION, RoutedReads, format_position, parse_position
from db.throttle import LoginThrottle
from graph.errors import NotSignedIn
from graph.loaders import Loaders
from graph.persisted import PersistedDocuments

T = TypeVar("T")
log = logging.getLogger("conduit.replicas")


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived collaborators, made in the app's lifespan and shared by all requests."""

    settings: Settings
    database: Database
    passwords: Passwords
    events: CommentEvents
    login_throttle: LoginThrottle
    documents: PersistedDocuments


@dataclass(frozen=True, slots=True)
class Work:
    """What one mutation writes with: the operation's session, and who is writing."""

    session: AsyncSession
    signed_in_as: int | None
    author: AuthorRow | None
    """The viewer as an author (`Context.viewer_row`), for payloads of what they wrote."""

    @property
    def viewer_id(self) -> int:
        assert self.signed_in_as is not None, "a unit of work of a signed-in viewer"
        return self.signed_in_as


@dataclass
class Context:
    """Per request. `auth_error` set means the request carried a token that proves nothing."""

    services: Services
    viewer_id: int | None = None
    auth_error: str | None = None
    connection_params: object = None
    """A WebSocket's connection_init payload (Strawberry sets it); None over HTTP."""
    over_http: bool = True
    """One request and its response; False for a WebSocket, whose context lives long (its
    reads hold no connection between operations) and carries subscriptions."""
    client_address: str | None = None
    """The client's IP address (behind a proxy, as uvicorn's --proxy-headers resolves it)."""
    response_headers: MutableHeaders | None = None
    """Headers of the HTTP response to come; None over a WebSocket."""
    levelwise_tried: str | None = None
    """Why the level-wise executor handed this request's operation to graphql-core, once it
    did: it is never tried twice for one request (graph/execution/levelwise.py)."""
    idempotency_key: str | None = None
    """The request's Idempotency-Key header, over HTTP (graph/idempotency.py)."""
    write_position: int | None = None
    """A WAL position this context's reads must see: the `Conduit-Write-Position` its client
    sent back, or its own last write's (db/sql/replicas.py)."""
    on_primary: bool = False
    """Read on the primary even with replicas: a mutation operation's reads."""
    conflicted: bool = field(default=False, init=False)
    """The operation's transaction was rolled back for a serialization failure or a deadlock:
    it may run again (graph/mutations.py)."""
    transaction: Transaction | None = field(default=None, init=False)
    """A mutation operation's transaction, once it needs one (graph/mutations.py)."""
    viewer_row: AuthorRow | None = field(default=None, init=False)
    """The signed-in viewer as an author, read (and kept) in `transaction` (graph/mutations.py):
    what a payload shows of the viewer without reading it again. None once they changed."""
    claimed_key: int | None = field(default=None, init=False)
    """The idempotency key row claimed in `transaction`, for the response to be stored in."""
    answer: Callable[[str | None], Response] | None = field(default=None, init=False)
    """The response decided before execution (a replay, a refused key), sent instead; made
    for the response's negotiated media type."""
    issued_credentials: bool = field(default=False, init=False)
    """A sign-in token is in the response: it must not be stored (graph/idempotency.py)."""
    reads: ReadRunner = field(init=False)
    """Where reads go: the request's connection, or its mutation's transaction once open."""
    loaders: Loaders = field(init=False)
    _request_reads: RequestReads | RoutedReads = field(init=False)

    def __post_init__(self) -> None:
        database = self.services.database
        self._request_reads = database.request_reads(hold=self.over_http, must_see=self._must_see)
        self.reads = self._request_reads
        self.forget_loaded()

    @property
    def database(self) -> Database:
        return self.services.database

    async def read(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        """`read(reader)` through `reads`: the request's read connection, or its mutation's
        transaction once open (see `db.sql.reads`)."""
        return await self.reads.run(read)

    async def close(self) -> None:
        """The request is answered: roll back what was not committed, give connections back."""
        try:
            await self.end_writes(commit=False)
        finally:
            await self._request_reads.close()

    async def begin_writes(self) -> AsyncSession:
        """The operation's transaction, begun on first use; reads then go through it."""
        if self.transaction is None:
            self.transaction = await Transaction.begin(self.database)
            self.reads = self.transaction.reads
            self.forget_loaded()
        return self.transaction.session

    async def end_writes(self, *, commit: bool) -> None:
        """Commit (errors propagate: the caller says what they mean) or roll back."""
        transaction, self.transaction, self.claimed_key = self.transaction, None, None
        if transaction is None:
            return
        self.reads = self._request_reads
        self.forget_loaded()
        await (transaction.commit() if commit else transaction.rollback())
        if commit:
            await self._note_write()

    def read_after(self, header: str | None) -> None:
        """The client's `Conduit-Write-Position` header: its reads must see that write. One
        that is not a WAL position is ignored (reads then go where they would without it)."""
        if header is not None:
            with suppress(ValueError):
                self.write_position = parse_position(header.strip())

    def _must_see(self) -> int | None:
        replicas = self.database.replicas
        if self.on_primary:
            return UNKNOWN_POSITION
        return None if replicas is None else replicas.must_see(self.viewer_id, self.write_position)

    async def _note_write(self) -> None:
        """After a commit, with replicas: where the write is, for this context's later reads,
        the viewer's in this process (the grace period) and the client (the header)."""
        replicas = self.database.replicas
        if replicas is None:
            return
        try:
            position = await self.database.write_position()
        except Exception as error:  # the write is committed: never an error of the request
            log.warning("write position unknown (%s): the viewer reads the primary", type(error).__name__)
            replicas.remember(self.viewer_id, UNKNOWN_POSITION)
            return
        self.write_position = max(position, self.write_position or 0)
        replicas.remember(self.viewer_id, position)
        if self.response_headers is not None:
            self.response_headers[WRITE_POSITION] = format_position(self.write_position)

    @asynccontextmanager
    async def unit_of_work(self, *, require_viewer: bool = True) -> AsyncIterator[Work]:
        """One mutation's writes: a SAVEPOINT in the operation's transaction, released when the
        block ends and rolled back on any exception (a `DomainError` then undoes this mutation
        alone). The operation commits after its whole response is built (graph/mutations.py),
        which checked first that a signed-in viewer still exists, and locked their row.
        `NotSignedIn` when `require_viewer` and the request is anonymous."""
        if require_viewer:
            self.require_viewer_id()
        session = await self.begin_writes()
        assert self.transaction is not None
        await self.transaction.reads.idle()  # an earlier field's cancelled read may still run
        try:
            async with session.begin_nested():
                yield Work(session, self.viewer_id, self.viewer_row)
        finally:
            self.forget_loaded()  # payloads read what this wrote

    def retry_after(self, seconds: int) -> None:
        """Tell an HTTP client when to come back (`Retry-After`, the longest wait asked for)."""
        if self.response_headers is not None:
            asked = self.response_headers.get("retry-after", "0")
            self.response_headers["retry-after"] = str(max(seconds, int(asked)))

    def require_viewer_id(self) -> int:
        """The viewer's id, or `NotSignedIn` (reported as an UNAUTHENTICATED user error)."""
        if self.viewer_id is None:
            raise NotSignedIn("you must be signed in to do this")
        return self.viewer_id

    def forget_loaded(self) -> None:
        """Drop every cached load: called after a mutation's writes, so payloads read fresh rows."""
        self.loaders = Loaders(
            self.reads,
            self.viewer_id,
            batch=self.services.settings.dataloader_batching,
        )


Info = StrawberryInfo[Context, None]
