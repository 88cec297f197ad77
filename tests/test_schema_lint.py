"""graphql-schema-linter reports nothing on schema.graphql (issue 15): every type, field,
argument, input field and enum value described, descriptions capitalized, names in GraphQL's
conventions, and Relay's connection and PageInfo rules. The rules that only order fields
alphabetically are left out: the schema lists fields in the order that reads best."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import CACHES, ROOT, npm_ci

pytestmark = pytest.mark.node

RULES = [
    "types-have-descriptions",
    "fields-have-descriptions",
    "arguments-have-descriptions",
    "input-object-values-have-descriptions",
    "enum-values-have-descriptions",
    "descriptions-are-capitalized",
    "deprecations-have-a-reason",
    "defined-types-are-used",
    "types-are-capitalized",
    "fields-are-camel-cased",
    "input-object-values-are-camel-cased",
    "enum-values-all-caps",
    "relay-connection-types-spec",
    "relay-connection-arguments-spec",
    "relay-page-info-spec",
]


def lint(schema: Path) -> tuple[int, list[dict[str, object]]]:
    npm_ci(CACHES)
    linter = str(CACHES / "node_modules" / ".bin" / "graphql-schema-linter")
    finished = subprocess.run(
        [linter, "--rules", ",".join(RULES), "--format", "json", str(schema)],
        cwd=CACHES,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors: list[dict[str, object]] = json.loads(finished.stdout)["errors"]
    return finished.returncode, errors


def test_the_linter_reports_nothing_on_the_served_schema() -> None:
    returncode, errors = lint(ROOT / "schema.graphql")
    assert errors == []
    assert returncode == 0


def test_the_linter_reports_what_the_contract_left_undescribed() -> None:
    """The same run on the contract, which describes little, fails: the rules are in force."""
    returncode, errors = lint(ROOT / "tests" / "contract" / "schema.graphql")
    assert returncode != 0
    assert {error["rule"] for error in errors} >= {
        "types-have-descriptions",
        "fields-have-descriptions",
        "arguments-have-descriptions",
        "input-object-values-have-descriptions",
        "enum-values-have-descriptions",
    }
