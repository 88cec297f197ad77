"""Persisted documents: operations stored by id, shared by every server process.

Two kinds share the table. Documents clients registered themselves (automatic persisted
queries) are bounded: past `max_count` the least recently used go, `used_at` being refreshed
when a process reads one from here, at most once per `TOUCH_AFTER` (a read path must not
write on every request). Trusted documents come from a manifest, are never evicted, and
count toward no bound.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import PersistedDocument, utc_now

#: How stale `used_at` may grow before a read refreshes it.
TOUCH_AFTER = timedelta(hours=1)
_DOCUMENTS = PersistedDocument.__table__


@dataclass(frozen=True, slots=True)
class Stored:
    """One document as stored: its text, and whether a manifest listed it."""

    id: str
    document: str
    trusted: bool


def sha256(text: str) -> str:
    """The lowercase hex SHA-256 of `text` as UTF-8, as Apollo's link and GraphQL Code Generator
    compute it."""
    return hashlib.sha256(text.encode()).hexdigest()


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def get(session: AsyncSession, *, id: str) -> Stored | None:
    """The document named `id`, its use noted (see the module's doc)."""
    row = (
        await session.execute(
            select(_DOCUMENTS.c.document, _DOCUMENTS.c.trusted, _DOCUMENTS.c.used_at).where(
                _DOCUMENTS.c.id == id
            )
        )
    ).first()
    if row is None:
        return None
    now = utc_now()
    if row.used_at < now - TOUCH_AFTER:
        await session.execute(update(PersistedDocument).where(_DOCUMENTS.c.id == id).values(used_at=now))
    return Stored(id, row.document, row.trusted)


async def get_trusted_by_sha256(session: AsyncSession, *, digest: str) -> Stored | None:
    """A trusted document whose text has this SHA-256, whatever its id."""
    row = (
        await session.execute(
            select(_DOCUMENTS.c.id, _DOCUMENTS.c.document)
            .where(_DOCUMENTS.c.sha256 == digest, _DOCUMENTS.c.trusted.is_(True))
            .limit(1)
        )
    ).first()
    return None if row is None else Stored(row.id, row.document, True)


async def create(session: AsyncSession, *, id: str, document: str, max_count: int) -> None:
    """Register a client's document (nothing changes if `id` is stored already), then evict the
    least recently used registered documents past `max_count`."""
    now = utc_now()
    values = {"id": id, "sha256": sha256(document), "document": document, "trusted": False}
    await session.execute(
        _insert(session)(PersistedDocument)
        .values(**values, created_at=now, used_at=now)
        .on_conflict_do_nothing()
    )
    registered = _DOCUMENTS.c.trusted.is_(False)
    count = await session.scalar(select(func.count()).select_from(_DOCUMENTS).where(registered))
    excess = int(count or 0) - max_count
    if excess > 0:
        oldest = (
            select(_DOCUMENTS.c.id)
            .where(registered)
            .order_by(_DOCUMENTS.c.used_at, _DOCUMENTS.c.id)
            .limit(excess)
        )
        await session.execute(delete(PersistedDocument).where(_DOCUMENTS.c.id.in_(oldest)))


async def count_registered(session: AsyncSession) -> int:
    """How many documents clients registered (the bounded kind)."""
    registered = _DOCUMENTS.c.trusted.is_(False)
    return int(await session.scalar(select(func.count()).select_from(_DOCUMENTS).where(registered)) or 0)


async def trust(session: AsyncSession, documents: Mapping[str, str], *, replace: bool = False) -> int:
    """Store a manifest's documents as trusted (a registered one of the same id becomes trusted,
    its text replaced); with `replace`, trusted documents not in it are deleted. Returns how
    many documents were new."""
    now = utc_now()
    ids = list(documents)
    known = set((await session.execute(select(_DOCUMENTS.c.id).where(_DOCUMENTS.c.id.in_(ids)))).scalars())
    insert = _insert(session)
    for id, text in documents.items():
        statement = insert(PersistedDocument).values(
            id=id, sha256=sha256(text), document=text, trusted=True, created_at=now, used_at=now
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[_DOCUMENTS.c.id],
                set_={
                    "sha256": statement.excluded.sha256,
                    "document": statement.excluded.document,
                    "trusted": True,
                },
            )
        )
    if replace:
        await session.execute(
            delete(PersistedDocument).where(_DOCUMENTS.c.trusted.is_(True), _DOCUMENTS.c.id.not_in(ids))
        )
    return len(set(ids) - known)
