"""Running the Alembic migrations from code (the CLI and the tests), with an explicit URL.

The migrations ship inside the wheel as the `migrations` package, and the Alembic config is
built here rather than read from alembic.ini, so that `pip install .` then `conduit migrate`
works from any directory. alembic.ini stays at the top of the checkout for the `alembic` CLI
(writing new revisions); both point at the same migrations/ folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config


def migrations_directory() -> Path:
    """Where env.py and versions/ are: the checkout's migrations/ or the installed package."""
    spec = importlib.util.find_spec("migrations")
    if spec is None or spec.origin is None or not (Path(spec.origin).parent / "env.py").is_file():
        raise RuntimeError("the `migrations` package of conduit-graphql is not installed")
    return Path(spec.origin).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
