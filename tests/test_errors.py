"""Production behaviour of errors: no suggestions, introspection off, unexpected errors masked."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import graph.app
import graph.auth
import graph.execution.limits
from tests.support.served import post, served

SECRET = "secret-detail-0xC0FFEE"


def _error_ids(caplog: pytest.LogCaptureFixture) -> dict[str, logging.LogRecord]:
    return {
        str(record.args[0]): record
        for record in caplog.records
        if record.name == "conduit.errors" and isinstance(record.args, tuple) and record.args
    }


# Suggestions.


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("{ articlez { totalCount } }", None, "Cannot query field 'articlez' on type 'Query'."),
        (
            "{ articles(frist: 1) { totalCount } }",
            None,
            "Unknown argument 'frist' on field 'Query.articles'.",
        ),
        (
            "query($f: ArticleFiltr) { articles(filter: $f) { totalCount } }",
            None,
            "Unknown type 'ArticleFiltr'.",
        ),
        ("{ node(id: 1) { ... on Articl { slug } } }", None, "Unknown type 'Articl'."),
    ],
)
async def test_errors_never_suggest_names(
    sqlite_url: str, query: str, variables: dict[str, Any] | None, message: str
) -> None:
    async with served(sqlite_url) as client:
        response = await post(client, query, variables)
    assert "Did you mean" not in response.text
    assert message in [error["message"] for error in response.json()["errors"]]


# Introspection and GraphiQL.


async def test_introspection_off_refuses_schema_and_type_but_answers_typename(sqlite_url: str) -> None:
    async with served(sqlite_url, introspection=False) as client:
        schema = (await post(client, "{ __schema { description } }")).json()
        type_ = (await post(client, '{ __type(name: "Article") { name } }')).json()
        typename = (await post(client, "{ __typename }")).json()
    for body, field in ((schema, "__schema"), (type_, "__type")):
        assert body.get("data") is None
        assert body["errors"] == [
            {
                "message": "GraphQL introspection has been disabled, but the requested query "
                f"contained the field '{field}'.",
                "locations": [{"line": 1, "column": 3}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ]
    assert typename["data"] == {"__typename": "Query"}


async def test_introspection_hidden_in_a_fragment_is_refused(sqlite_url: str) -> None:
    query = "{ ...F } fragment F on Query { __schema { queryType { name } } }"
    async with served(sqlite_url, introspection=False) as client:
        body = (await post(client, query)).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection has been disabled" in body["errors"][0]["message"]


async def test_production_serves_no_graphiql_and_no_introspection(sqlite_url: str) -> None:
    async with served(sqlite_url, environment="production", secret_key="Kq3vN8xR2mWz7pLc5tY" * 2) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        body = (await post(client, "{ __schema { queryType { name } } }")).json()
    assert page.status_code == 404
    assert page.json() == {"errors": [{"message": "Not Found", "extensions": {"code": "NOT_FOUND"}}]}
    assert "introspection has been disabled" in body["errors"][0]["message"]


async def test_introspection_is_on_by_default_outside_production(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        body = (await post(client, "{ __schema { queryType { name } } }")).json()
    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}


# Unexpected errors.


def _explode(*_: Any, **__: Any) -> Any:
    raise KeyError(SECRET)


@pytest.mark.parametrize(
    "target",
    [
        (graph.execution.limits._Shape, "measure"),  # inside a validation rule
        (graph.execution.limits._Cost, "measure"),  # inside an extension (the cost limit), before execution
    ],
    ids=["validation-rule", "extension"],
)
async def test_an_exception_before_execution_is_masked_and_logged(
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    target: tuple[type, str],
) -> None:
    monkeypatch.setattr(*target, _explode)
    async with served(sqlite_url) as client:
        response = await post(client, "{ __typename }")
    assert response.status_code == 200
    assert SECRET not in response.text
    body = response.json()
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    record = _error_ids(caplog)[error["extensions"]["errorId"]]
    assert record.exc_info is not None
    assert SECRET in str(record.exc_info[1])


async def test_an_exception_in_the_context_getter_is_a_masked_500(
    sqlite_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph.auth, "viewer_id_from_header", _explode)
    async with served(sqlite_url) as client:
        response = await post(client, "{ __typename }", Accept="application/graphql-response+json")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/graphql-response+json"
    assert SECRET not in response.text
    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    record = _error_ids(caplog)[error["extensions"]["errorId"]]
    assert record.exc_info is not None
    assert SECRET in str(record.exc_info[1])


async def test_a_syntax_error_is_coded_as_a_parse_failure(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        first = (await post(client, "{ articles(")).json()
        again = (await post(client, "{ articles(")).json()
    assert (
        first
        == again
        == {
            "data": None,
            "errors": [
                {
                    "message": "Syntax Error: Expected Name, found <EOF>.",
                    "locations": [{"line": 1, "column": 12}],
                    "extensions": {"code": "GRAPHQL_PARSE_FAILED"},
                }
            ],
        }
    )
