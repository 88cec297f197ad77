"""Operation limits: depth, aliases, tokens, request size and cost, all refused before execution.

Refused operations never reach the database, so most of these run on SQLite only; the
ones that execute run on both engines through the `client` fixture.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from tests.support.counting import StatementCounter
from tests.support.served import post, served

DEEP_INTROSPECTION = (
    "{ __schema { types { fields { type { " + "ofType { " * 12 + "name" + " }" * 12 + " } } } } }"
)
FULL_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)
ARTICLES_AND_COMMENTS = """
query Nested($articles: Int, $comments: Int) {
  articles(first: $articles) { edges { node { comments(first: $comments) { edges { node { id } } } } } }
}
"""


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a refused operation, after checking that nothing executed."""
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    return dict(error)


# Depth.


async def test_deep_introspection_is_refused(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        body = (await post(client, DEEP_INTROSPECTION)).json()
    error = refusal(body)
    assert error["message"] == "The operation is nested 17 levels deep, more than the limit of 15."
    assert error["extensions"]["depth"] == {"requested": 17, "limit": 15}


async def test_the_standard_introspection_query_fits_the_default_depth(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        body = (await post(client, FULL_INTROSPECTION)).json()
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"] == {"name": "Query", "kind": "OBJECT"}


async def test_introspection_that_nests_lists_is_refused_within_the_depth_limit(sqlite_url: str) -> None:
    query = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    async with served(sqlite_url) as client:
        body = (await post(client, query)).json()
    assert body["errors"][0]["message"] == "Maximum introspection depth exceeded"
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_depth_counts_through_fragments_and_names_the_operation(sqlite_url: str) -> None:
    query = """
    query Feed { articles { ...Page } }
    fragment Page on ArticleConnection { edges { ... on ArticleEdge { node { title } } } }
    """
    async with served(sqlite_url, max_query_depth=3) as client:
        body = (await post(client, query)).json()
    error = refusal(body)
    assert error["message"] == "'Feed' is nested 4 levels deep, more than the limit of 3."


# Aliases.


async def test_aliases_over_the_limit_are_refused(sqlite_url: str) -> None:
    fields = " ".join(f"a{i}: __typename" for i in range(31))
    async with served(sqlite_url) as client:
        refused = (await post(client, f"{{ {fields} }}")).json()
        fitting = (await post(client, f"{{ {fields.rsplit(' a30:', 1)[0]} }}")).json()
    assert refusal(refused)["extensions"]["aliases"] == {"requested": 31, "limit": 30}
    assert len(fitting["data"]) == 30


async def test_aliases_count_every_spread_of_a_fragment(sqlite_url: str) -> None:
    query = "{ ...A ...A } fragment A on Query { a: __typename b: __typename }"
    async with served(sqlite_url, max_query_aliases=3) as client:
        body = (await post(client, query)).json()
    assert refusal(body)["message"] == "The operation uses 4 aliases, more than the limit of 3."


async def test_exponential_fragment_spreads_are_measured_in_linear_time(sqlite_url: str) -> None:
    levels = 40
    fragments = " ".join(
        f"fragment F{i} on Query {{ a: __typename ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    query = f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ __typename }}"
    async with served(sqlite_url) as client:
        started = time.perf_counter()
        body = (await post(client, query)).json()
        elapsed = time.perf_counter() - started
    assert refusal(body)["extensions"]["aliases"]["requested"] == 2**levels - 1
    # 2**40 spreads: counted one by one, it would never return. Generous for a busy machine.
    assert elapsed < 20


# Tokens.


async def test_documents_over_the_token_limit_are_refused(sqlite_url: str) -> None:
    query = "{ " + "__typename " * 60 + "}"
    async with served(sqlite_url, max_query_tokens=50) as client:
        body = (await post(client, query)).json()
        fitting = (await post(client, "{ __typename }")).json()
    error = refusal(body)
    assert error["message"] == "The document has more than 50 tokens, the limit."
    assert error["extensions"]["tokens"] == {"limit": 50}
    assert fitting["data"] == {"__typename": "Query"}


# Invalid documents never crash a limit.


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ ...Missing }", "Unknown fragment 'Missing'."),
        ("{ articles { ...Missing } }", "Unknown fragment 'Missing'."),
        (
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "Cannot spread fragment 'A' within itself via 'B'.",
        ),
        ("{ ...A } fragment A on Query { ...A }", "Cannot spread fragment 'A' within itself."),
        ("{ nope { deeper(first: 5) { x } } }", "Cannot query field 'nope' on type 'Query'."),
        ("{ ... on Nope { __typename } }", "Unknown type 'Nope'."),
        ("query A { __typename } query A { __typename }", "There can be only one operation named 'A'."),
        ("{ __typename } { __typename }", "This anonymous operation must be the only defined operation."),
    ],
)
async def test_invalid_documents_are_validation_errors_under_every_limit(
    sqlite_url: str, query: str, message: str
) -> None:
    async with served(sqlite_url, max_query_depth=3, max_query_aliases=0, max_query_cost=1) as client:
        response = await post(client, query)
    assert response.status_code == 200
    body = response.json()
    assert body.get("data") is None
    assert message in [error["message"] for error in body["errors"]]
    assert {error["extensions"]["code"] for error in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


# Request size.


async def test_a_body_over_the_size_limit_is_413(sqlite_url: str) -> None:
    async with served(sqlite_url, max_request_bytes=1024) as client:
        response = await post(client, "{ __typename }", {"padding": "x" * 2000})
        fitting = await post(client, "{ __typename }", {"padding": "x" * 900})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "errors": [
            {
                "message": "The request is larger than 1024 bytes.",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ]
    }
    assert fitting.status_code == 200


async def test_a_chunked_body_is_cut_off_at_the_size_limit(sqlite_url: str) -> None:
    chunks_sent = 0

    async def chunks() -> Any:
        nonlocal chunks_sent
        yield b'{"query": "{ __typename }", "variables": {"padding": "'
        for _ in range(100):
            chunks_sent += 1
            yield b"x" * 512
        yield b'"}}'

    async with served(sqlite_url, max_request_bytes=1024) as client:
        response = await client.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_query_string_over_the_size_limit_is_413(sqlite_url: str) -> None:
    async with served(sqlite_url, max_request_bytes=1024) as client:
        response = await client.get("/graphql", params={"query": "{ __typename }" + " " * 2000})
    assert response.status_code == 413


# Cost.


async def test_cost_is_the_product_of_page_sizes_along_each_path_summed(sqlite_url: str) -> None:
    cases: list[tuple[str, dict[str, Any] | None, int]] = [
        ("{ tags(first: 7) { name } }", None, 7),
        ("{ tags { name } }", None, 20),
        (ARTICLES_AND_COMMENTS, {"articles": 10, "comments": 5}, 10 + 10 * 5),
        (ARTICLES_AND_COMMENTS, None, 20 + 20 * 20),
        ("query($n: Int = 3) { articles(first: $n) { totalCount } }", None, 3),
        ("query($n: Int = 3) { articles(first: $n) { totalCount } }", {"n": 4}, 4),
        ("{ articles(last: 6) { edges { node { title } } } }", None, 6),
        (
            "query($ids: [ID!]!) "
            "{ nodes(ids: $ids) { ... on Article { comments(first: 2) { totalCount } } } }",
            {"ids": ["a", "b", "c"]},
            3 + 3 * 2,
        ),
        ('{ nodes(ids: ["a", "b"]) { id } }', None, 2),
        (
            "{ viewer { feed(first: 5) "
            "{ edges { node { author { articles(first: 4) { totalCount } } } } } } }",
            None,
            5 + 5 * 4,
        ),
        ("{ a: tags(first: 2) { name } b: tags(first: 3) { name } }", None, 5),
        (
            "{ articles(first: 2) { ...Comments } } fragment Comments on ArticleConnection "
            "{ edges { node { comments(first: 3) { totalCount } } } }",
            None,
            2 + 2 * 3,
        ),
    ]
    async with served(sqlite_url, max_query_cost=1) as client:
        for query, variables, expected in cases:
            body = (await post(client, query, variables)).json()
            assert body["extensions"]["cost"] == {"requested": expected, "limit": 1}, query


async def test_an_operation_that_reads_nothing_reports_no_cost(sqlite_url: str) -> None:
    async with served(sqlite_url, max_query_cost=1) as client:
        body = (await post(client, "{ __typename }", None)).json()
    assert body == {"data": {"__typename": "Query"}}


async def test_an_operation_over_the_cost_limit_is_refused_before_any_sql(
    client: httpx.AsyncClient, statements: StatementCounter
) -> None:
    variables = {"articles": 100, "comments": 100}
    response = await post(client, ARTICLES_AND_COMMENTS, variables)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "The operation may read 10100 rows, more than the limit of 10000: "
                "ask for smaller pages (first/last) or fewer nested lists.",
                "extensions": {"code": "QUERY_TOO_COMPLEX", "cost": {"requested": 10100, "limit": 10000}},
            }
        ],
        "extensions": {"cost": {"requested": 10100, "limit": 10000}},
    }
    assert statements.count == 0


async def test_an_executed_operation_reports_its_cost(client: httpx.AsyncClient) -> None:
    body = (await post(client, ARTICLES_AND_COMMENTS, {"articles": 10, "comments": 99})).json()
    assert body == {
        "data": {"articles": {"edges": []}},
        "extensions": {"cost": {"requested": 1000, "limit": 10000}},
    }


# Caches never skip a limit.


async def test_a_cached_document_is_refused_every_time(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        for _ in range(3):
            refusal((await post(client, DEEP_INTROSPECTION)).json())


async def test_apps_with_different_limits_do_not_share_cached_validation(sqlite_url: str) -> None:
    query = "{ articles { edges { node { title } } } }"
    async with served(sqlite_url, max_query_depth=3, max_query_cost=1) as strict:
        refused = (await post(strict, query)).json()
    async with served(sqlite_url, max_query_cost=1) as lenient:
        measured = (await post(lenient, query)).json()
    assert refusal(refused)["extensions"]["depth"] == {"requested": 4, "limit": 3}
    assert measured["errors"][0]["extensions"]["cost"] == {"requested": 20, "limit": 1}


async def test_the_same_document_costs_what_its_variables_ask(client: httpx.AsyncClient) -> None:
    query = "query($n: Int) { articles(first: $n) { edges { node { title } } } }"
    small = (await post(client, query, {"n": 1})).json()
    large = (await post(client, query, {"n": 20_000})).json()
    assert small == {
        "data": {"articles": {"edges": []}},
        "extensions": {"cost": {"requested": 1, "limit": 10_000}},
    }
    assert refusal(large)["extensions"]["cost"] == {"requested": 20_000, "limit": 10_000}
