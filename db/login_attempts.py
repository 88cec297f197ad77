"""The login throttle's buckets in PostgreSQL's `login_attempts` table, shared by every server
process on the database and kept across restarts (the rules are db/throttle.py's).

Each attempt is one statement, atomic whatever runs at the same time: an upsert that refills
the bucket for the time since its last attempt, takes a token if there is one and says whether
it did (`INSERT … ON CONFLICT DO UPDATE … RETURNING`). Concurrent attempts on one key queue on
its row, and each sees what the one before it wrote: no read-modify-write race, in one process
or many. The same statement purges a few rows of the kind whose window has passed since their
last attempt (a bucket is full by then, as good as no row): the table holds only the keys seen
within their window, however many an attacker cycles through.

Time is the servers' wall clock (`time.time`), the one clock processes on several hosts share;
a host whose clock runs behind never moves a bucket's time back (`GREATEST`). SQLite serves one
process: it keeps the buckets in memory (`MemoryThrottle`), see `login_throttle`.
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.settings import Settings
from db.sql.engine import Database
from db.throttle import Clock, Kind, LoginThrottle, MemoryThrottle

#: Stale rows one attempt deletes at most: each attempt adds at most one row of its kind, so the
#: table stays bounded, and purging never makes a login slow.
PURGE_BATCH = 100

#: Evaluated in each statement, for that statement's own transaction: its COMMIT does not wait
#: for the WAL to reach the disk (an upsert took 3.6 ms with the flush, 0.6 ms without, here).
#: A database crash may lose the last fraction of a second of counts; nothing else changes.
_RELAXED = "SELECT set_config('synchronous_commit', 'off', true)"
_REFILLED = (
    "LEAST(CAST(:capacity AS double precision),"
    " bucket.tokens + GREATEST(0, CAST(:now AS double precision) - bucket.updated)"
    " * CAST(:rate AS double precision))"
)
_TAKE = text(
    f"""
    WITH purged AS (
        DELETE FROM login_attempts
        WHERE (kind, key) IN (
            SELECT kind, key FROM login_attempts
            WHERE kind = :kind AND updated < CAST(:stale AS double precision) AND key <> :key
            LIMIT {PURGE_BATCH}
            FOR UPDATE SKIP LOCKED
        )
    )
    INSERT INTO login_attempts AS bucket (kind, key, tokens, updated, granted)
    SELECT :kind, :key, CAST(:capacity AS double precision) - 1, CAST(:now AS double precision), true
    FROM ({_RELAXED}) AS relaxed
    ON CONFLICT (kind, key) DO UPDATE SET
        tokens = CASE WHEN {_REFILLED} >= 1 THEN {_REFILLED} - 1 ELSE {_REFILLED} END,
        updated = GREATEST(bucket.updated, CAST(:now AS double precision)),
        granted = {_REFILLED} >= 1
    RETURNING granted, tokens
    """
)
_FORGET = text(f"DELETE FROM login_attempts USING ({_RELAXED}) AS relaxed WHERE kind = :kind AND key = :key")


def row_key(key: str) -> str:
    """What the table stores for an email or an address: fixed-size, and no email in clear."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class TableThrottle(LoginThrottle):
    """The buckets in `login_attempts`, written through the primary in autocommit."""

    def __init__(self, settings: Settings, engine: AsyncEngine, clock: Clock = time.time) -> None:
        super().__init__(settings)
        self._engine = engine
        self._clock = clock

    async def _take(self, kind: Kind, key: str) -> int | None:
        limit = self.limits[kind]
        now = self._clock()
        parameters = {
            "kind": kind.value,
            "key": row_key(key),
            "capacity": float(limit.capacity),
            "rate": limit.rate,
            "now": now,
            "stale": now - limit.window_seconds,
        }
        async with self._engine.begin() as connection:
            granted, tokens = (await connection.execute(_TAKE, parameters)).one()
        return None if granted else limit.wait(tokens)

    async def _forget(self, kind: Kind, key: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(_FORGET, {"kind": kind.value, "key": row_key(key)})


def login_throttle(settings: Settings, database: Database, clock: Clock | None = None) -> LoginThrottle:
    """The throttle for this database: shared in its table on PostgreSQL, where several server
    processes may serve; in memory on SQLite, which one process serves (a table there would add
    a write, and a turn in the one writer's queue, to every login)."""
    if settings.is_sqlite:
        return MemoryThrottle(settings) if clock is None else MemoryThrottle(settings, clock)
    return (
        TableThrottle(settings, database.engine)
        if clock is None
        else TableThrottle(settings, database.engine, clock)
    )
