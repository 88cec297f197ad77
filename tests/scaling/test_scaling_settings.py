"""The scaling settings refuse what cannot work, at start-up, with the reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from db.settings import Settings

POOLER = "postgresql+asyncpg://127.0.0.1:6432/conduit"


def test_pooler_mode_refuses_to_start_without_a_direct_listen_url() -> None:
    with pytest.raises(ValidationError, match="DATABASE_POOLER=transaction needs DATABASE_LISTEN_URL"):
        Settings(database_url=POOLER, database_pooler="transaction")


def test_pooler_mode_with_a_listen_url_starts() -> None:
    direct = "postgresql+asyncpg://127.0.0.1:5432/conduit"
    settings = Settings(database_url=POOLER, database_pooler="transaction", database_listen_url=direct)
    assert settings.database_listen_url == direct


@pytest.mark.parametrize("setting", [{"database_pooler": "transaction"}, {"database_replica_urls": "x"}])
def test_sqlite_has_no_pooler_and_no_replicas(setting: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="need a PostgreSQL DATABASE_URL"):
        Settings(database_url="sqlite+aiosqlite:///x.db", database_listen_url="x", **setting)  # type: ignore[arg-type]


def test_replica_urls_are_comma_separated() -> None:
    settings = Settings(database_url=POOLER, database_replica_urls=" a , b ,")  # type: ignore[arg-type]
    assert settings.database_replica_urls == ["a", "b"]
