"""Statements follow the shape of a query, whatever its fields: for random queries over the
schema's read fields, at most one statement per root field plus one per nested connection, on
both engines, and the same answer as plain graphql-core gives.

Scalars, to-one relations (author, article), counts, the viewer's flags and tag lists add no
statement of their own (db/shown.py); a connection's `totalCount` comes with its page. The
queries are drawn from the served schema itself, so a field added later is drawn too.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    is_leaf_type,
    parse,
)

from bench.operations import OPERATIONS, Operation, Targets
from db.settings import Settings
from graph.app import create_app
from graph.schema import create_schema
from tests.support.counting import StatementCounter
from tests.support.engines import settings_for
from tests.support.factories import add_comment, create_article, favorite, follow, gql
from tests.support.gql import register

BASE = "http://conduit.test"
QUERIES = 40
DEPTH = 5
#: The root fields drawn, with the arguments that name seeded data.
ROOTS = {
    "article": '(slug: "dragons")',
    "articles": None,  # paged
    "user": '(username: "alice")',
    "viewer": "",
    "tags": "(first: 5)",
}
PAGE_ARGUMENTS = {"first", "after", "last", "before"}


def unwrap(type_: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def is_connection(type_: GraphQLOutputType) -> bool:
    named = unwrap(type_)
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


class Draw:
    """A random query over `schema`'s read fields, and how many statements it may take."""

    def __init__(self, schema: GraphQLSchema, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng

    def query(self) -> str:
        root = self.schema.query_type
        assert root is not None
        names = self.rng.sample(list(ROOTS), self.rng.randint(1, 3))
        parts = []
        for index, name in enumerate(names):
            field = root.fields[name]
            arguments = ROOTS[name] if ROOTS[name] is not None else self.page(field)
            parts.append(f"r{index}: {name}{arguments} {self.selection(field.type, DEPTH)}".rstrip())
        return "{ " + " ".join(parts) + " }"

    def page(self, field: GraphQLField) -> str:
        if not set(field.args) & PAGE_ARGUMENTS:
            return ""
        return f"(first: {self.rng.randint(0, 4)})"

    def selection(self, type_: GraphQLOutputType, depth: int) -> str:
        named = unwrap(type_)
        if is_leaf_type(named):
            return ""
        if not isinstance(named, GraphQLObjectType):
            return "{ __typename }"
        fields = [
            (name, field)
            for name, field in named.fields.items()
            if not {arg for arg, spec in field.args.items() if isinstance(spec.type, GraphQLNonNull)}
            and (depth > 1 or is_leaf_type(unwrap(field.type)))
        ]
        chosen = self.rng.sample(fields, max(1, min(len(fields), self.rng.randint(1, 5))))
        parts = []
        for name, field in chosen:
            arguments = self.page(field) if field.args else ""
            parts.append(f"{name}{arguments} {self.selection(field.type, depth - 1)}".rstrip())
        return "{ " + " ".join(parts) + " }"


def bound(schema: GraphQLSchema, query: str) -> int:
    """One statement per root field (`__typename` aside) and per nested connection field."""
    [operation] = parse(query).definitions
    root = schema.query_type
    assert root is not None

    def connections(node: FieldNode, parent: GraphQLObjectType) -> int:
        field = parent.fields[node.name.value]
        named = unwrap(field.type)
        below = 0
        if node.selection_set is not None and isinstance(named, GraphQLObjectType):
            below = sum(
                connections(child, named)
                for child in node.selection_set.selections
                if isinstance(child, FieldNode) and child.name.value != "__typename"
            )
        return below + (1 if is_connection(field.type) else 0)

    total = 0
    for node in operation.selection_set.selections:  # type: ignore[attr-defined]
        assert isinstance(node, FieldNode)
        field = root.fields[node.name.value]
        total += 1 + connections(node, root) - (1 if is_connection(field.type) else 0)
    return total


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    return settings_for(migrated_url, max_query_cost=1_000_000)


@pytest.fixture
async def plain(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same app with batching off: graphql-core resolving object by object."""
    app = create_app(settings_for(settings.database_url, dataloader_batching=False, max_query_cost=1_000_000))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http


async def seed(client: httpx.AsyncClient) -> str:
    """Three users who write, comment, favorite and follow; the token of one of them."""
    tokens = {name: await register(client, name) for name in ("alice", "bob", "carol")}
    await create_article(client, tokens["alice"], title="Dragons", tagList=["dragons", "x"])
    await create_article(client, tokens["alice"], title="Untagged")
    await create_article(client, tokens["bob"], title="Soup", tagList=["cooking", "dragons"])
    for author, body in (("bob", "first"), ("carol", "second"), ("alice", "third")):
        await add_comment(client, tokens[author], "dragons", body)
    await add_comment(client, tokens["alice"], "soup", "tasty")
    await favorite(client, tokens["carol"], "dragons")
    await favorite(client, tokens["bob"], "soup")
    await favorite(client, tokens["carol"], "soup")
    await follow(client, tokens["carol"], "alice")
    await follow(client, tokens["alice"], "bob")
    return tokens["carol"]


async def post(client: httpx.AsyncClient, query: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    return response.json()


async def test_random_queries_stay_within_one_statement_per_level_and_answer_as_graphql_core(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, statements: StatementCounter, engine_name: str
) -> None:
    token = await seed(client)
    schema = create_schema(Settings())._schema
    rng = random.Random(f"statement-bound-{engine_name}")
    drawn = [(Draw(schema, rng).query(), rng.choice([None, token])) for _ in range(QUERIES)]
    nested = 0
    for query, viewer in drawn:
        statements.count = 0
        served = await post(client, query, viewer)
        count = statements.count
        assert "errors" not in served, (query, served)
        assert served == await post(plain, query, viewer), query
        limit = bound(schema, query)
        assert count <= limit, f"{count} statements, at most {limit} allowed: {query}"
        nested += limit > len(parse(query).definitions[0].selection_set.selections)  # type: ignore[attr-defined]
    assert nested >= QUERIES // 4, "too few drawn queries nest a connection to prove the bound"


def test_the_bound_counts_root_fields_and_nested_connections() -> None:
    schema = create_schema(Settings())._schema
    assert bound(schema, "{ a: viewer { email } b: tags { name } }") == 2
    assert bound(schema, "{ articles { totalCount nodes { author { username } favoritesCount } } }") == 1
    query = """{ user(username: "x") {
      articles { nodes { comments { nodes { author { favorites { totalCount } } } } } }
    } }"""
    assert bound(schema, query) == 4


#: Every read the benchmark sends, and exactly the statements it takes on SQLite, level by level.
#: On PostgreSQL each is one statement that builds the whole answer as JSON (graph/execution/compiled.py).
BENCH_STATEMENTS = {
    "typename": 0,
    "feed": 1,  # the articles with their authors, tags, counts and flags
    "feed (signed in)": 1,
    "deep": 2,  # the articles; their comments pages, with the comments' authors
    "one": 2,  # the article; its comments page
    "home": 2,  # the articles; the popular tags
    "your feed (signed in)": 2,  # the viewer; the feed's page with its length
    "tag feed": 1,
    "article": 2,  # the article with its author and counts; its comments page with its length
    "article (signed in)": 2,
    "profile articles": 2,  # the profile with its counts; the articles page with its length
    "profile favorites": 2,
    "settings (signed in)": 1,
}


@pytest.mark.parametrize("operation", [o for o in OPERATIONS if not o.write], ids=lambda o: o.name)
async def test_each_bench_read_takes_exactly_its_statements(
    client: httpx.AsyncClient, statements: StatementCounter, operation: Operation, engine_name: str
) -> None:
    token = await seed(client)
    targets = Targets(
        slug="dragons", write_slug="soup", tag="dragons", username="alice", username_key="alice"
    )
    statements.count = 0
    answer = await gql(
        client, operation.query, operation.variables(targets), token if operation.signed_in else None
    )
    assert "errors" not in answer, answer
    if engine_name == "postgresql":
        assert statements.count == min(1, BENCH_STATEMENTS[operation.name])
    else:
        assert statements.count == BENCH_STATEMENTS[operation.name]
