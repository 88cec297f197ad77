"""The level-wise executor (graph/execution/levelwise.py) answers as graphql-core does, never hands off
silently, and every field that reads declares its batch resolver (graph/batch.py).

The differential tests send each operation a frontend sends (tests/client/*.graphql, the
benchmark's) to two apps on one database: the app as served, and the same app with batching
off — no query lane, no level-wise executor, graphql-core resolving object by object through
unbatched loaders. Whole answers must be equal, and the served app must count no hand-off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    Node,
    OperationDefinitionNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from bench import operations
from db.settings import Settings
from graph.app import create_app
from graph.batch import batch_of
from graph.schema import create_schema
from tests.support.engines import settings_for
from tests.support.factories import add_comment, create_article, favorite, follow, gql
from tests.support.gql import register

CLIENT = Path(__file__).resolve().parents[1] / "client"
BASE = "http://conduit.test"

#: Fields that are resolved object by object on purpose, with the reason.
PER_OBJECT_ONLY = {
    "Mutation": "a mutation's fields run one after the other, each in its unit of work",
    "Subscription": "a subscription's events come one at a time",
}


def client_operations() -> dict[str, str]:
    """Every query of tests/client, by name, each with the fragments it spreads."""
    fragments = {
        definition.name.value: definition
        for definition in parse((CLIENT / "fragments.graphql").read_text()).definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    document = parse((CLIENT / "queries.graphql").read_text())
    return {
        definition.name.value: "\n".join(
            print_ast(node) for node in [definition, *_spread(definition, fragments, set())]
        )
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode) and definition.name is not None
    }


def _spread(node: Node, fragments: dict[str, FragmentDefinitionNode], seen: set[str]) -> list[Node]:
    """The fragments `node` spreads, transitively, each once."""
    found: list[Node] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
            name = spread.name.value
            if name not in seen:
                seen.add(name)
                found.append(fragments[name])
                found.extend(_spread(fragments[name], fragments, seen))

    visit(node, Spreads())
    return found


def bench_operations() -> dict[str, str]:
    """Every read the benchmark sends (its pages included), each text once: a signed-in
    operation is the same text as its anonymous one, and each runs with and without a viewer."""
    found: dict[str, str] = {}
    for operation in operations.OPERATIONS:
        if not operation.write and operation.query not in found.values():
            found[f"bench {operation.name}"] = operation.query
    return found


OPERATIONS = {**client_operations(), **bench_operations()}


def test_every_field_that_reads_declares_its_batch_resolver() -> None:
    """A field whose resolver awaits or takes arguments is batched, or the executor could only
    hand every query selecting it to graphql-core."""
    schema = create_schema(Settings())._schema
    unbatched = []
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        if type_.name in PER_OBJECT_ONLY:
            continue
        for name, field in type_.fields.items():
            resolver = field.extensions["strawberry-definition"].base_resolver
            if resolver is None or batch_of(resolver.wrapped_func) is not None:
                continue
            if resolver.is_async or resolver.arguments or resolver.info_parameter:
                unbatched.append(f"{type_.name}.{name}")
    assert unbatched == []


def test_the_per_object_list_names_only_types_of_the_schema() -> None:
    schema = create_schema(Settings())._schema
    assert set(PER_OBJECT_ONLY) <= set(schema.type_map)


class Apps:
    """The served app and the plain graphql-core one, on one database."""

    def __init__(self, served: httpx.AsyncClient, plain: httpx.AsyncClient, variables: dict[str, Any]):
        self.served = served
        self.plain = plain
        self.variables = variables


@pytest.fixture
async def apps(client: httpx.AsyncClient, settings: Settings) -> AsyncIterator[Apps]:
    variables = await seed(client)
    plain = create_app(settings_for(settings.database_url, dataloader_batching=False))
    async with plain.router.lifespan_context(plain):
        transport = httpx.ASGITransport(app=plain)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as plain_client:
            yield Apps(client, plain_client, variables)


async def seed(client: httpx.AsyncClient) -> dict[str, Any]:
    """Users, tagged articles, comments, favorites and follows; the variables the operations
    take, pointing at them."""
    tokens = {name: await register(client, name) for name in ("alice", "bob", "carol")}
    dragons = await create_article(client, tokens["alice"], title="Dragons", tagList=["dragons", "x"])
    await create_article(client, tokens["alice"], title="Untagged")
    soup = await create_article(client, tokens["bob"], title="Soup", tagList=["cooking", "dragons"])
    comment = await add_comment(client, tokens["bob"], "dragons", "first")
    await add_comment(client, tokens["carol"], "dragons", "second")
    await favorite(client, tokens["carol"], "dragons")
    await favorite(client, tokens["bob"], "soup")
    await follow(client, tokens["carol"], "alice")
    await follow(client, tokens["alice"], "bob")
    viewer = await gql(client, "{ viewer { user { id } } }", token=tokens["alice"])
    return {
        "slug": "dragons",
        "username": "alice",
        "tag": "dragons",
        "id": dragons["id"],
        "ids": [viewer["data"]["viewer"]["user"]["id"], soup["id"], comment["id"], "bm9uZTox"],
        "tokens": tokens,
    }


async def answer(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response.status_code, response.json()


async def fallbacks(client: httpx.AsyncClient) -> list[str]:
    return [
        line
        for line in (await client.get("/metrics")).text.splitlines()
        if line.startswith("conduit_graphql_fallbacks_total")
    ]


@pytest.mark.parametrize("viewer", [None, "carol"])
@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_each_operation_is_answered_as_graphql_core_answers_it(
    apps: Apps, name: str, viewer: str | None
) -> None:
    query = OPERATIONS[name]
    variables = {key: value for key, value in apps.variables.items() if f"${key}" in query}
    token = apps.variables["tokens"][viewer] if viewer else None
    served = await answer(apps.served, query, variables, token)
    plain = await answer(apps.plain, query, variables, token)
    assert served == plain
    status, body = served
    assert status == 200 and "errors" not in body, body
    assert await fallbacks(apps.served) == []
