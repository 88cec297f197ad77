"""Answers PostgreSQL builds as JSON (graph/execution/compiled.py) are graphql-core's, to the byte.

Every case is sent to the served app and to the same app with batching off, where graphql-core
resolves object by object, and the whole answers must be equal: cursors, PageInfo on both
ends of a list, filters, nested pages from a cursor, fragments, aliases, @skip and @include,
the viewer's flags and feed. On PostgreSQL each is one statement (the compiled path, not the
level-wise one, answered); on SQLite the level-wise executor answers the same cases.
Requests the compiled path must not answer (an argument refused, a viewer who is gone) are
answered, errors included, as the general path answers them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import GraphQLObjectType
from sqlalchemy import text

from db.settings import Settings
from graph.app import create_app
from graph.execution.trees import ENTITIES, LISTS, ROOTS
from graph.schema import create_schema
from graph.selection import reads_of
from tests.support.counting import StatementCounter
from tests.support.engines import settings_for
from tests.support.factories import add_comment, create_article, database, favorite, follow, user_id
from tests.support.gql import register

BASE = "http://conduit.test"
PAGE = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
CARD = "id slug title createdAt updatedAt tagList favorited favoritesCount commentsCount"
AUTHOR = "author { id username bio image createdAt following followersCount followingCount articlesCount }"


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    variables: Callable[[dict[str, str]], dict[str, Any]] = field(default=lambda _: {})
    signed_in: bool = False


CASES = [
    Case("a card page", f"{{ articles(first: 2) {{ totalCount {PAGE} nodes {{ {CARD} {AUTHOR} }} }} }}"),
    Case(
        "edges and nodes together",
        f"""{{ articles(first: 3) {{
              edges {{ __typename cursor node {{ slug }} }} nodes {{ title }} {PAGE} }} }}""",
    ),
    Case(
        "after a cursor",
        f"query($c: String) {{ articles(first: 1, after: $c) {{ {PAGE} nodes {{ slug }} }} }}",
        lambda seen: {"c": seen["first article"]},
    ),
    Case(
        "the last ones before a cursor",
        f"""query($c: String) {{
              articles(last: 1, before: $c) {{ {PAGE} edges {{ cursor node {{ slug }} }} }} }}""",
        lambda seen: {"c": seen["last article"]},
    ),
    Case("the last ones", f"{{ articles(last: 2) {{ totalCount {PAGE} nodes {{ slug }} }} }}"),
    Case("an empty page", f"{{ articles(first: 0) {{ totalCount {PAGE} nodes {{ slug }} }} }}"),
    Case(
        "every filter",
        """query($f: ArticleFilter) { articles(filter: $f) { totalCount nodes { slug } } }""",
        lambda _: {"f": {"tag": "dragons", "author": "ALICE", "favoritedBy": "carol"}},
    ),
    Case(
        "filters under aliases",
        """{ t: articles(filter: {tag: "dragons"}) { totalCount nodes { slug } }
             a: articles(filter: {author: "bob"}) { nodes { slug } }
             f: articles(first: 1, filter: {favoritedBy: "Carol"}) { totalCount pageInfo { hasNextPage } }
             none: articles(filter: {tag: "nothing"}) {
               totalCount nodes { slug } pageInfo { endCursor } } }""",
    ),
    Case(
        "an article page",
        f"""query($slug: String!) {{ article(slug: $slug) {{ {CARD} body {AUTHOR}
              comments(first: 2) {{ totalCount {PAGE}
                edges {{ cursor node {{ id body createdAt author {{ username }} article {{ slug }} }} }}
              }} }} }}""",
        lambda _: {"slug": "dragons"},
        signed_in=True,
    ),
    Case(
        "comments after a cursor",
        f"""query($c: String) {{ article(slug: "dragons") {{
              comments(first: 5, after: $c) {{ totalCount {PAGE} nodes {{ body }} }} }} }}""",
        lambda seen: {"c": seen["first comment"]},
    ),
    Case(
        "a profile with both tabs",
        f"""{{ user(username: "Alice") {{ id username following followersCount followingCount
              articles(first: 1) {{ totalCount {PAGE} nodes {{ {CARD} }} }}
              favorites(first: 5) {{ totalCount {PAGE} edges {{ cursor node {{ slug {AUTHOR} }} }} }}
            }} }}""",
        signed_in=True,
    ),
    Case(
        "a favorites tab from a cursor",
        f"""query($c: String) {{ user(username: "carol") {{
              favorites(first: 1, after: $c) {{ totalCount {PAGE} nodes {{ slug }} }} }} }}""",
        lambda seen: {"c": seen["first favorite"]},
    ),
    Case(
        "the viewer and their feed",
        f"""{{ viewer {{ __typename id email user {{ id username following }}
              feed(first: 1) {{ totalCount {PAGE}
                nodes {{ slug favorited author {{ username following }} }} }} }} }}""",
        signed_in=True,
    ),
    Case(
        "the feed read backwards",
        f"{{ viewer {{ feed(last: 1) {{ {PAGE} nodes {{ slug }} }} }} }}",
        signed_in=True,
    ),
    Case("no viewer", "{ viewer { id email } tags(first: 2) { name } }"),
    Case(
        "fragments, inline fragments and type names",
        """query { __typename articles(first: 2) { __typename ...Page } }
           fragment Page on ArticleConnection { nodes { ... on Node { id } ...Card author { ...Person } } }
           fragment Card on Article { __typename slug tagList }
           fragment Person on User { __typename username }""",
    ),
    Case(
        "@skip and @include",
        """query($yes: Boolean!, $no: Boolean!) { articles(first: 2) {
             totalCount @include(if: $no) nodes { slug @skip(if: $yes) title @include(if: $yes)
             author @include(if: $yes) { username } } } }""",
        lambda _: {"yes": True, "no": False},
    ),
    Case(
        "the same field under two aliases and merged",
        """{ articles(first: 2) {
             a: nodes { slug } b: nodes { title } nodes { slug } nodes { author { username } } } }""",
    ),
    Case("tags", "{ tags(first: 3) { __typename name articleCount } none: tags(first: 0) { name } }"),
    Case("nothing found", '{ article(slug: "nope") { slug } user(username: "nobody") { username } }'),
    Case(
        "deep nesting",
        """{ articles(first: 2) { nodes { comments(first: 2) { nodes { article { author {
             articles(first: 1) { nodes { comments { totalCount } } } } } } } } } }""",
    ),
]

REFUSED = [
    Case("a page too large", "{ articles(first: 101) { nodes { slug } } }"),
    Case("first and last", "{ articles(first: 1, last: 1) { nodes { slug } } }"),
    Case("a malformed cursor", '{ articles(after: "garbage") { nodes { slug } } }'),
    Case("a nested malformed cursor", '{ user(username: "alice") { articles(after: "%") { totalCount } } }'),
    Case("too many tags", "{ tags(first: -1) { name } }"),
    Case("a NUL in a slug", "query($s: String!) { article(slug: $s) { slug } }", lambda _: {"s": "a\x00b"}),
    Case(
        "a variable of the wrong type",
        "query($n: Int) { articles(first: $n) { totalCount } }",
        lambda _: {"n": "x"},
    ),
]


@pytest.fixture
async def plain(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same database served with batching off: graphql-core resolving object by object."""
    app = create_app(settings_for(settings.database_url, dataloader_batching=False))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
    ):
        yield http


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response.json()


async def seed(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """Writers, comments, favorites and follows; carol's token and the cursors cases start from."""
    tokens = {name: await register(client, name) for name in ("alice", "bob", "carol")}
    await create_article(client, tokens["alice"], title="Dragons", tagList=["dragons", "x"])
    await create_article(client, tokens["alice"], title="Untagged")
    await create_article(client, tokens["bob"], title="Soup", tagList=["cooking", "dragons"])
    for author, body in (("bob", "first"), ("carol", "second"), ("alice", "third")):
        await add_comment(client, tokens[author], "dragons", body)
    for slug in ("dragons", "soup"):
        await favorite(client, tokens["carol"], slug)
    await follow(client, tokens["carol"], "alice")
    await follow(client, tokens["carol"], "bob")
    cursors = """{ articles { edges { cursor } }
      article(slug: "dragons") { comments { edges { cursor } } }
      user(username: "carol") { favorites { edges { cursor } } } }"""
    data = (await post(client, cursors, {}, None))["data"]
    articles = data["articles"]["edges"]
    seen = {
        "first article": articles[0]["cursor"],
        "last article": articles[-1]["cursor"],
        "first comment": data["article"]["comments"]["edges"][0]["cursor"],
        "first favorite": data["user"]["favorites"]["edges"][0]["cursor"],
    }
    return tokens["carol"], seen


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_read_answers_as_graphql_core_does_in_one_statement(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    statements: StatementCounter,
    engine_name: str,
    case: Case,
) -> None:
    token, seen = await seed(client)
    viewer = token if case.signed_in else None
    variables = case.variables(seen)
    statements.count = 0
    served = await post(client, case.query, variables, viewer)
    count = statements.count
    assert "errors" not in served, served
    assert served == await post(plain, case.query, variables, viewer)
    if engine_name == "postgresql":
        assert count == 1


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
async def test_an_argument_the_compiled_path_refuses_is_answered_as_the_general_path_answers_it(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, case: Case
) -> None:
    await seed(client)
    served = await post(client, case.query, case.variables({}), None)
    assert served == await post(plain, case.query, case.variables({}), None)
    assert ("errors" in served) != (case.name == "a NUL in a slug"), served  # that one finds nothing


async def test_a_viewer_whose_account_is_gone_is_unauthenticated(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    token, _ = await seed(client)
    gone = await user_id(app, "carol")
    async with database(app).unit_of_work() as session:
        await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone})
    answer = await post(client, "{ viewer { email } tags { name } }", {}, token)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_every_field_of_the_compiled_types_is_read_in_sql() -> None:
    """A field added to an article, user, comment or viewer without a way to read it in SQL
    (a column, `read_with`, `joined`, or a list of `LISTS`) fails here, instead of silently
    taking the level-wise path. The root fields not compiled are named, with why."""
    schema = create_schema(Settings())._schema
    not_compiled = {"node", "nodes"}  # any type, by global ID: the level-wise executor's
    assert schema.query_type is not None
    assert set(schema.query_type.fields) == ROOTS - {"__typename"} | not_compiled
    for name in ENTITIES:
        type_ = schema.type_map[name]
        assert isinstance(type_, GraphQLObjectType)
        reads = reads_of(type_.extensions["strawberry-definition"].origin)
        special = {"id"} | ({"user"} if name == "Viewer" else set())
        for field_name in type_.fields:
            known = field_name in special or (name, field_name) in LISTS or field_name in reads
            assert known, f"{name}.{field_name} has no SQL read"
