"""Comment events for subscribers: "comment C was added to article A", once it is committed.

Publishing happens inside the unit of work that adds the comment, so a comment whose
transaction rolls back is never announced:

- On PostgreSQL, `publish` runs `pg_notify` in that transaction; PostgreSQL delivers the
  notification at commit, to every server process, in commit order. Each process LISTENs
  on one dedicated asyncpg connection (opened in the app's lifespan, reconnected when
  lost; on DATABASE_LISTEN_URL, a direct one, when DATABASE_URL is a pooler) and fans the
  events out to its subscribers.
- On SQLite (one process), `publish` hands the event to an in-process broker after the
  session commits.

Subscribers get queues of comment ids. After the LISTEN connection was lost and made
again, each queue receives `RESYNC`: events may have been missed, the subscriber should
look again at what was committed (see `comment_ids_since`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db.models import Comment
from db.settings import Settings

log = logging.getLogger("conduit.events")

CHANNEL: Final = "conduit_comment_added"
RESYNC: Final = -1
"""Put on every queue after a lost LISTEN connection was made again: events may be missing."""


class ListenerUnavailable(Exception):
    """The event source could not be reached in time; the subscription cannot start."""


class CommentEvents:
    """A fan-out of "comment added to article" events to the coroutines that listen."""

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[int]]] = defaultdict(set)

    async def start(self) -> None:
        """Called once in the app's lifespan, before any request."""

    async def close(self) -> None:
        """Called once when the app stops."""

    async def publish(self, session: AsyncSession, *, article_id: int, comment_id: int) -> None:
        """Announce the comment when (and only if) the session's transaction commits."""
        raise NotImplementedError

    async def ready(self) -> None:
        """Wait until events are being received; `ListenerUnavailable` if that does not happen."""

    @asynccontextmanager
    async def listen(self, article_id: int) -> AsyncIterator[asyncio.Queue[int]]:
        """A queue of comment ids (or `RESYNC`) for the article, removed when the block ends."""
        await self.ready()
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._queues[article_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[article_id].discard(queue)
            if not self._queues[article_id]:
                del self._queues[article_id]

    def _deliver(self, article_id: int, comment_id: int) -> None:
        for queue in self._queues.get(article_id, ()):
            queue.put_nowait(comment_id)

    def _resync_all(self) -> None:
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(RESYNC)

    @property
    def listener_count(self) -> int:
        return sum(len(queues) for queues in self._queues.values())


class InProcessCommentEvents(CommentEvents):
    """For SQLite: one process, so the broker is a dictionary of queues."""

    async def publish(self, session: AsyncSession, *, article_id: int, comment_id: int) -> None:
        def deliver(_: Session) -> None:
            self._deliver(article_id, comment_id)

        event.listen(session.sync_session, "after_commit", deliver, once=True)


class PostgresCommentEvents(CommentEvents):
    """NOTIFY in the writing transaction; LISTEN on one connection per process."""

    def __init__(
        self, database_url: str, *, reconnect_delay_seconds: float = 0.5, ping_interval_seconds: float = 30
    ) -> None:
        super().__init__()
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._reconnect_delay = reconnect_delay_seconds
        self._ping_interval = ping_interval_seconds
        self._connection: asyncpg.Connection | None = None
        self._listening = asyncio.Event()
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self.connects = 0
        """How many times the LISTEN connection was made (tests watch reconnection)."""

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="conduit-comment-listener")

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._disconnect()

    async def publish(self, session: AsyncSession, *, article_id: int, comment_id: int) -> None:
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": CHANNEL, "payload": f"{article_id}:{comment_id}"},
        )

    async def ready(self, timeout_seconds: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self._listening.wait(), timeout_seconds)
        except TimeoutError:
            raise ListenerUnavailable("comment events are unavailable: the database is unreachable") from None

    async def _supervise(self) -> None:
        """Keep one LISTEN connection up; after a loss, reconnect and tell subscribers to resync."""
        first = True
        while True:
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("comment listener cannot connect: %s", type(error).__name__)
                await asyncio.sleep(self._reconnect_delay)
                continue
            if not first:
                self._resync_all()
            first = False
            while not await self._lost_within(self._ping_interval):
                pass
            log.warning("comment listener connection lost; reconnecting")
            await self._disconnect()

    async def _lost_within(self, seconds: float) -> bool:
        """True when the connection is lost now or within `seconds`, or stops answering a ping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lost.wait(), seconds)
            return True
        connection = self._connection
        try:
            assert connection is not None
            await connection.fetchval("SELECT 1", timeout=5)
        except Exception:
            return True
        return False

    async def _connect(self) -> None:
        self._lost.clear()
        connection: asyncpg.Connection = await asyncpg.connect(self._dsn, timeout=5)
        try:
            connection.add_termination_listener(self._on_terminated)
            await connection.add_listener(CHANNEL, self._on_notification)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        self.connects += 1
        self._listening.set()

    async def _disconnect(self) -> None:
        self._listening.clear()
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)
        elif connection is not None:
            connection.terminate()

    def _on_terminated(self, _: Any) -> None:
        self._listening.clear()
        self._lost.set()

    def _on_notification(self, _: Any, __: int, ___: str, payload: object) -> None:
        try:
            article_id, comment_id = (int(part) for part in str(payload).split(":"))
        except ValueError:
            log.warning("ignoring a malformed comment event")
            return
        self._deliver(article_id, comment_id)


def comment_events_for(settings: Settings) -> CommentEvents:
    """LISTEN on DATABASE_LISTEN_URL when set: through a transaction pooler a LISTEN holds only
    until its transaction ends, when the server connection goes to another client, so the
    notifications never reach this process (README "LISTEN/NOTIFY")."""
    if settings.is_sqlite:
        return InProcessCommentEvents()
    return PostgresCommentEvents(settings.database_listen_url or settings.database_url)


async def comment_ids_since(session: AsyncSession, article_id: int, after_id: int) -> Sequence[int]:
    """Ids of the article's comments newer than `after_id`, oldest first (to resync)."""
    rows = await session.scalars(
        select(Comment.id)
        .where(Comment.article_id == article_id, Comment.id > after_id)
        .order_by(Comment.created_at, Comment.id)
    )
    return rows.all()


async def last_comment_id(session: AsyncSession, article_id: int) -> int:
    """The highest comment id of the article so far (0 when it has none)."""
    return (
        await session.scalar(
            select(func.coalesce(func.max(Comment.id), 0)).where(Comment.article_id == article_id)
        )
    ) or 0
