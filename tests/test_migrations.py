"""Alembic owns the schema: the round trip works and the models match the migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from db.migrate import alembic_config, downgrade, upgrade
from tests.support.databases import scratch_database
from tests.support.engines import drop_everything, engine_url


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of its own, so the round trip cannot disturb other tests."""
    url = engine_url(request.param, f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
    if request.param == "postgresql":
        url = scratch_database(url, "migrations")
        asyncio.run(drop_everything(url))
    return url


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(read())


def test_upgrade_downgrade_upgrade_round_trip(scratch_url: str) -> None:
    upgrade(scratch_url)
    assert {"users", "follows", "articles", "tags", "article_tags", "favorites", "comments"} <= _tables(
        scratch_url
    )
    downgrade(scratch_url)
    assert _tables(scratch_url) == {"alembic_version"}
    upgrade(scratch_url)
    assert "articles" in _tables(scratch_url)


def test_models_and_migrations_do_not_drift(scratch_url: str) -> None:
    upgrade(scratch_url)
    command.check(alembic_config(scratch_url))
