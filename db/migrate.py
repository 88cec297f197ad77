"""Running the Alembic migrations from code (the CLI and the tests), with an explicit URL.

The migrations ship inside the wheel as the `migrations` package, and the Alembic config is
built here rather than read from alembic.ini, so that `pip install .` then `conduit migrate`
works from any directory. alembic.ini stays at the top of the checkout for the `alembic` CLI
(writing new revisions); both point at the same migrations/ folder.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations


def migrations_directory() -> Path:
    """Where env.py and versions/ are: the checkout's migrations/ or the installed package
    (importing it runs only its empty `__init__`; Alembic loads the rest by path)."""
    directory = Path(migrations.__file__).parent
    if not (directory / "env.py").is_file():
        raise RuntimeError(f"the `migrations` package of conduit-graphql at {directory} has no env.py")
    return directory


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
