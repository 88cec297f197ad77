"""The engines the tests run on: the PostgreSQL server found once per run, the settings of a
test app, and emptying its tables between tests."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db.models import Base
from db.settings import Settings
from tests.support.databases import postgres_url

POSTGRES_URL, POSTGRES_SOURCE = postgres_url()


def engine_url(engine: str, sqlite_url: str) -> str:
    if engine == "sqlite":
        return sqlite_url
    if POSTGRES_URL is None:
        pytest.skip(f"PostgreSQL not available: {POSTGRES_SOURCE}")
    return POSTGRES_URL


def settings_for(url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=url,
        environment="test",
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        **overrides,
    )


async def empty_tables(app: FastAPI) -> None:
    engine = app.state.services.database.engine
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))


async def drop_everything(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
