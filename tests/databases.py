"""Where the test databases live: a temporary SQLite file, and PostgreSQL when one answers."""

from __future__ import annotations

import asyncio
import os
import socket

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/conduit_test"


def postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_url() -> tuple[str | None, str]:
    """The PostgreSQL URL to test against, or None with the reason there is none."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return explicit, "TEST_DATABASE_URL"
    if postgres_answers():
        asyncio.run(_create_database(DEFAULT_POSTGRES))
        return DEFAULT_POSTGRES, "127.0.0.1:5432"
    return None, "no TEST_DATABASE_URL and nothing answers on 127.0.0.1:5432"


async def _create_database(url: str) -> None:
    """Create the test database on the server unless it exists."""
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
        database="postgres",
    )
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", parsed.database
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await connection.close()
