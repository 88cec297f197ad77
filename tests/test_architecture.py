"""Dependencies point one way: `graph` imports `db`, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_DB = {"graph", "strawberry", "fastapi", "starlette", "graphql"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_db_knows_nothing_of_graphql_or_http() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN_IN_DB)
        for path in (ROOT / "db").rglob("*.py")
        if _imported_roots(path) & FORBIDDEN_IN_DB
    }
    assert offenders == {}


def test_migrations_import_only_the_models_and_settings() -> None:
    allowed = {"alembic", "sqlalchemy", "db", "asyncio", "logging", "__future__", "collections"}
    for path in (ROOT / "migrations").rglob("*.py"):
        assert _imported_roots(path) <= allowed, path
