"""Small statement builders that differ by dialect, kept in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


async def insert_ignoring_duplicates(
    session: AsyncSession, model: type[DeclarativeBase], rows: list[dict[str, Any]]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING: makes follow and favorite idempotent without a race."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(model).values(rows).on_conflict_do_nothing())
