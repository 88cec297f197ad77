"""The server through a real PgBouncer in transaction mode (README "PgBouncer").

Without DATABASE_POOLER the first connection fails; with it, every client operation (the
mutations and the queries in tests/client/) answers through PgBouncer exactly as it does
directly, also many at once on a few server connections, and a subscriber on one server
process hears the comments another adds (LISTEN on DATABASE_LISTEN_URL, direct).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse, print_ast
from sqlalchemy import exc, text

from db.settings import Settings
from db.sql.engine import Database
from graph.app import create_app
from tests.execution.test_levelwise import OPERATIONS, seed
from tests.support.databases import ONLY_POSTGRESQL
from tests.support.engines import settings_for
from tests.support.factories import create_article
from tests.support.gql import gql, register
from tests.support.servers import CLIENT, npm_ci, serving_process, subscribe_and_comment

pytestmark = [pytest.mark.pgbouncer, ONLY_POSTGRESQL]
BASE = "http://conduit.test"


def pooled(bouncer_url: str, direct_url: str, **overrides: Any) -> Settings:
    return settings_for(
        bouncer_url, database_pooler="transaction", database_listen_url=direct_url, **overrides
    )


@pytest.fixture
async def through_pgbouncer(
    client: httpx.AsyncClient, migrated_url: str, bouncer_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app through PgBouncer, on the database `client`'s app (direct) has just emptied."""
    app: FastAPI = create_app(pooled(bouncer_url, migrated_url))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
    ):
        yield http


async def test_without_the_setting_the_first_connection_fails(migrated_url: str, bouncer_url: str) -> None:
    """What a user sees who points DATABASE_URL at PgBouncer and sets nothing else."""
    database = Database.from_settings(settings_for(bouncer_url))
    try:
        with pytest.raises(exc.DBAPIError, match="unsupported startup parameter: statement_timeout"):
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await database.dispose()


async def test_units_of_work_are_bounded_by_a_local_statement_timeout(
    migrated_url: str, bouncer_url: str
) -> None:
    """The timeout a startup parameter would set, as SET LOCAL in each transaction: it bounds
    the transaction's statements and stays on none of PgBouncer's server connections."""
    database = Database.from_settings(pooled(bouncer_url, migrated_url, db_statement_timeout_ms=300))
    try:
        async with database.unit_of_work() as session:
            assert await session.scalar(text("SHOW statement_timeout")) == "300ms"
        with pytest.raises(exc.DBAPIError, match="canceling statement due to statement timeout"):
            async with database.unit_of_work() as session:
                await session.execute(text("SELECT pg_sleep(5)"))
        async with database.engine.connect() as connection:  # autocommit, on any server connection
            assert await connection.scalar(text("SHOW statement_timeout")) == "0"
    finally:
        await database.dispose()


def _operations(*files: str) -> dict[str, str]:
    """Each named operation of `files` (tests/client/), with the fragments it spreads."""
    fragments = {
        node.name.value: print_ast(node)
        for node in parse((CLIENT / "fragments.graphql").read_text()).definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    found = {}
    for file in files:
        for node in parse((CLIENT / file).read_text()).definitions:
            if isinstance(node, OperationDefinitionNode) and node.name is not None:
                text_ = print_ast(node)
                used = _closure(text_, fragments)
                found[node.name.value] = "\n".join([text_, *(fragments[name] for name in sorted(used))])
    return found


def _closure(text_: str, fragments: dict[str, str]) -> set[str]:
    used: set[str] = set()
    pending = [text_]
    while pending:
        current = pending.pop()
        for name, fragment in fragments.items():
            if name not in used and f"...{name}" in current.replace(" ", ""):
                used.add(name)
                pending.append(fragment)
    return used


MUTATIONS = _operations("mutations.graphql")


async def _mutate(client: httpx.AsyncClient, name: str, variables: dict[str, Any], token: str | None) -> Any:
    body = await gql(client, MUTATIONS[name], variables, token=token)
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert not payload.get("errors"), payload
    return payload


async def test_every_mutation_and_query_answers_through_pgbouncer(
    client: httpx.AsyncClient, through_pgbouncer: httpx.AsyncClient
) -> None:
    bouncer = through_pgbouncer
    variables = await seed(bouncer)  # registers, articles, comments, favorites, follows
    account = {"email": "dave@example.com", "password": "password123"}
    signed_up = await _mutate(bouncer, "SignUpMutation", {"input": {"username": "dave", **account}}, None)
    signed_in = await _mutate(bouncer, "SignInMutation", {"input": account}, None)
    token = signed_in["token"]
    assert signed_up["viewer"]["email"] == signed_in["viewer"]["email"]
    await _mutate(bouncer, "SettingsMutation", {"input": {"bio": "through a pooler"}}, token)
    await _mutate(bouncer, "FollowButtonFollowMutation", {"username": "alice"}, token)
    await _mutate(bouncer, "FollowButtonUnfollowMutation", {"username": "alice"}, token)
    created = await _mutate(
        bouncer,
        "EditorCreateMutation",
        {"input": {"title": "Pooled", "description": "d", "body": "b", "tagList": ["pool"]}},
        token,
    )
    slug = created["article"]["slug"]
    await _mutate(bouncer, "EditorUpdateMutation", {"input": {"slug": slug, "body": "edited"}}, token)
    await _mutate(bouncer, "FavoriteButtonFavoriteMutation", {"slug": slug}, token)
    await _mutate(bouncer, "FavoriteButtonUnfavoriteMutation", {"slug": slug}, token)
    added = {"input": {"articleSlug": slug, "body": "hi"}}
    comment = await _mutate(bouncer, "CommentFormAddMutation", added, token)
    await _mutate(bouncer, "CommentItemDeleteMutation", {"id": comment["comment"]["id"]}, token)
    await _mutate(bouncer, "ArticleActionsDeleteMutation", {"slug": slug}, token)

    # Every query the frontend and the benchmark send, anonymous and signed in, through
    # PgBouncer as directly; all at once too, many clients sharing four server connections.
    requests = []
    for query in OPERATIONS.values():
        wanted = {key: value for key, value in variables.items() if f"${key}" in query}
        for viewer in (None, variables["tokens"]["carol"]):
            requests.append((query, wanted, viewer))
    direct = [await gql(client, query, wanted, token=viewer) for query, wanted, viewer in requests]
    pooled_answers = [await gql(bouncer, query, wanted, token=viewer) for query, wanted, viewer in requests]
    assert pooled_answers == direct
    assert all("errors" not in answer for answer in direct), direct
    at_once = await asyncio.gather(*(gql(bouncer, q, w, token=v) for q, w, v in requests * 3))
    assert at_once == direct * 3


async def test_concurrent_writes_through_pgbouncer(through_pgbouncer: httpx.AsyncClient) -> None:
    """Units of work at once on a few server connections: each in a transaction of its own."""
    tokens = await asyncio.gather(*(register(through_pgbouncer, f"writer{n}") for n in range(6)))
    writes = (create_article(through_pgbouncer, t, title=f"Article {n}") for n, t in enumerate(tokens * 3))
    articles = await asyncio.gather(*writes)
    assert len({article["slug"] for article in articles}) == 18


@pytest.mark.node
def test_a_subscriber_hears_comments_added_on_another_process_through_pgbouncer(
    migrated_url: str, bouncer_url: str
) -> None:
    """tests/client/subscribe.mjs (the npm graphql-ws client): the subscriber's server and the
    one adding comments both run through PgBouncer; NOTIFY goes through it in the writing
    transaction, LISTEN is on the direct URL."""
    npm_ci()
    environment = {"DATABASE_POOLER": "transaction", "DATABASE_LISTEN_URL": migrated_url}
    with contextlib.ExitStack() as servers:
        subscriber = servers.enter_context(serving_process(bouncer_url, workers=2, **environment))
        writer = servers.enter_context(serving_process(bouncer_url, **environment))
        result = subscribe_and_comment(subscriber, writer, 10)
    assert [comment["id"] for comment in result["received"]] == result["sent"]
    assert len(result["sent"]) == 10
