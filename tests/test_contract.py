"""The served schema keeps the contract, and the committed schema.graphql is what is served.

The contract (tests/contract/schema.graphql) is the public API promised to clients; it lives in
the repository so that a fresh clone checks it with nothing beside it.
"""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema, find_breaking_changes, find_dangerous_changes

from db.settings import Settings
from graph.schema import create_schema

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "tests" / "contract" / "schema.graphql"
COMMITTED = ROOT / "schema.graphql"
ADDITIONS = {
    "VALUE_ADDED_TO_ENUM",
    "IMPLEMENTED_INTERFACE_ADDED",
    "OPTIONAL_ARG_ADDED",
    "OPTIONAL_INPUT_FIELD_ADDED",
}


def served_sdl() -> str:
    return create_schema(Settings()).as_str() + "\n"


def test_no_breaking_change_from_the_contract() -> None:
    contract = build_schema(CONTRACT.read_text())
    served = build_schema(served_sdl())
    assert find_breaking_changes(contract, served) == []


def test_dangerous_changes_are_only_additions() -> None:
    contract = build_schema(CONTRACT.read_text())
    served = build_schema(served_sdl())
    changes = find_dangerous_changes(contract, served)
    assert [c for c in changes if c.type.name not in ADDITIONS] == []


def test_committed_schema_matches_the_served_one() -> None:
    assert COMMITTED.read_text() == served_sdl(), "run `make schema` to regenerate schema.graphql"
