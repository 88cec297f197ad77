"""Idempotency keys: a mutation request's key, claimed in its own transaction, and its response.

The key's row is inserted first thing in the mutation's transaction and its response stored in
the same transaction just before the COMMIT, so a key is never seen without its response. A
second request with the key meets the row: committed, it reads the stored response; still being
written by another transaction, its INSERT waits on the unique key (PostgreSQL) until that one
commits (and it reads the response) or rolls back (and it claims the key itself). On SQLite
units of work run one at a time, so there is nothing to wait on but the write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import IdempotencyKey, utc_now

#: Expired keys deleted by one claim at most: purging never makes a mutation slow.
PURGE_BATCH = 100
_KEYS = IdempotencyKey.__table__


class KeyInUse(Exception):
    """Another request with this key is still running and did not finish within the statement
    timeout: nothing ran here, the client should come back later."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What an earlier request with the key left: its request's hash and its response (`body`
    None when the response was not kept)."""

    request_hash: str
    status: int | None
    content_type: str | None
    body: bytes | None


async def claim(
    session: AsyncSession, *, scope: str, key: str, request_hash: str, ttl_seconds: int
) -> int | Stored:
    """The id of the key's new row, or what an earlier request with it stored.

    An expired row is deleted and the key claimed afresh; a few expired rows of other keys
    are purged on the way.
    """
    cutoff = utc_now() - timedelta(seconds=ttl_seconds)
    await _purge(session, cutoff)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claiming = (
        insert(IdempotencyKey)
        .values(scope=scope, key=key, request_hash=request_hash, created_at=utc_now())
        .on_conflict_do_nothing()
        .returning(_KEYS.c.id)
    )
    found = select(_KEYS).where(_KEYS.c.scope == scope, _KEYS.c.key == key)
    for _ in range(3):  # a row expired, or rolled back under us: claim again
        try:
            row_id = await session.scalar(claiming)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == "57014":  # waited past statement_timeout
                raise KeyInUse(key) from error
            raise
        if row_id is not None:
            return int(row_id)
        row = (await session.execute(found)).first()
        if row is None:
            continue
        if row.created_at < cutoff:
            await session.execute(delete(IdempotencyKey).where(_KEYS.c.id == row.id))
            continue
        return Stored(row.request_hash, row.status, row.content_type, row.body)
    raise KeyInUse(key)


async def store(
    session: AsyncSession, row_id: int, *, status: int, content_type: str | None, body: bytes | None
) -> None:
    """The response to the claimed key's request, in its transaction."""
    await session.execute(
        update(IdempotencyKey)
        .where(_KEYS.c.id == row_id)
        .values(status=status, content_type=content_type, body=body)
    )


async def _purge(session: AsyncSession, cutoff: datetime) -> None:
    """Delete up to `PURGE_BATCH` expired keys; rows other transactions hold are skipped."""
    expired = (
        select(_KEYS.c.id)
        .where(_KEYS.c.created_at < cutoff)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await session.execute(delete(IdempotencyKey).where(_KEYS.c.id.in_(expired)))
