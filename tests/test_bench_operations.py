"""Every benchmark operation is a valid request of the served schema and is sent with exactly the
variables it declares: a typo in bench/operations.py would otherwise only show as `bad` answers
in the middle of a benchmark run."""

from __future__ import annotations

import pytest
from graphql import OperationDefinitionNode, parse, validate

from bench.operations import OPERATIONS, Operation, Targets
from db.settings import Settings
from graph.schema import create_schema

TARGETS = Targets(slug="a-slug", write_slug="w-slug", tag="a-tag", username="Alice", username_key="alice")


def declared(query: str) -> set[str]:
    [definition] = parse(query).definitions
    assert isinstance(definition, OperationDefinitionNode)
    return {variable.variable.name.value for variable in definition.variable_definitions or ()}


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.name)
def test_each_bench_operation_is_valid_against_the_served_schema(operation: Operation) -> None:
    schema = create_schema(Settings())._schema
    assert [error.message for error in validate(schema, parse(operation.query))] == []


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.name)
def test_each_bench_operation_is_sent_the_variables_it_declares(operation: Operation) -> None:
    assert set(operation.variables(TARGETS)) == declared(operation.query)
    if operation.peer_query is not None:
        assert set(operation.variables(TARGETS, peer=True)) == declared(operation.peer_query)


def test_the_bench_has_an_operation_for_every_page_of_the_frontend() -> None:
    pages = [operation.name for operation in OPERATIONS if operation.page]
    assert pages == [
        "home",
        "your feed (signed in)",
        "tag feed",
        "article",
        "article (signed in)",
        "profile articles",
        "profile favorites",
        "settings (signed in)",
    ]
