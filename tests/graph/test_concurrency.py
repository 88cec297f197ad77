"""Races, through a live server: many requests at once must give the answers one at a time would.

The requests go over real sockets to uvicorn from one `httpx.AsyncClient` with enough
connections for all of them, so they overlap in the server and, on PostgreSQL, in the
database (SQLite serialises writers; the outcomes must be the same). The tests that make a
request wait on a transaction held by the test itself check the moments in between, which
the timing of a load test would only hit by luck.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from slugify import slugify
from sqlalchemy.engine import make_url

import db.articles
from db.models import utc_now
from db.settings import Settings
from tests.support.databases import wait_for_a_lock_waiter
from tests.support.engines import settings_for
from tests.support.factories import (
    ADD_COMMENT,
    CREATE_ARTICLE,
    FAVORITE,
    UPDATE_ARTICLE,
    article_input,
    count_rows,
    create_article,
    database,
    gql,
    update_article_payload,
    user_id,
)
from tests.support.gql import REGISTER, register
from tests.support.servers import serving_in_loop

ARTICLE = "query($slug: String!) { article(slug: $slug) { title body favoritesCount updatedAt } }"


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    """Waits far longer than a request may take on a busy machine. Here over a hundred
    requests queue for the pool (and, on SQLite, for the write lock) by design, and the tests
    hold a row lock while a request waits: with the 5 s defaults a loaded machine, not the
    code, decided whether a request got SERVICE_UNAVAILABLE. The outcomes asserted are the
    same however long the waits (tests/test_faults.py tests the timeouts themselves)."""
    return settings_for(migrated_url, db_pool_timeout_seconds=60, db_statement_timeout_ms=60_000)


@pytest.fixture
async def live(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app served by uvicorn, with a connection for every request at once."""
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with (
        serving_in_loop(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", limits=limits, timeout=30) as client,
    ):
        yield client


async def all_at_once(*requests: Awaitable[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*requests))


def payloads(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each response's single mutation payload; any GraphQL error (a 500 in disguise) fails."""
    found = []
    for result in results:
        assert "errors" not in result, result
        (payload,) = result["data"].values()
        found.append(payload)
    return found


# Registration: uniqueness holds under a race.

TAKEN = {"message": "has already been taken", "code": "TAKEN"}


@pytest.mark.parametrize("unique", ["username", "email"])
async def test_fifty_simultaneous_registrations_of_one_name_make_one_account(
    app: FastAPI, live: httpx.AsyncClient, unique: str
) -> None:
    # Spellings that compare equal after NFKC and case folding race each other too.
    spellings = ["racer", "Racer", "RACER", "ｒａｃｅｒ"]

    def registration(n: int) -> dict[str, str]:
        name = spellings[n % len(spellings)]
        if unique == "username":
            return {"username": name, "email": f"racer{n}@example.com", "password": "password123"}
        return {"username": f"racer{n}", "email": f"{name}@example.com", "password": "password123"}

    results = await all_at_once(*(gql(live, REGISTER, {"input": registration(n)}) for n in range(50)))
    outcomes = payloads(results)
    succeeded = [payload for payload in outcomes if payload["errors"] == []]
    assert len(succeeded) == 1 and succeeded[0]["token"]
    refused = [payload["errors"] for payload in outcomes if payload["errors"] != []]
    assert refused == [[{"field": ["input", unique], **TAKEN}]] * 49
    assert await count_rows(app, "users") == 1


# Favorites: every one counted once.


async def test_a_hundred_users_favoriting_one_article_at_once_count_a_hundred(
    client: httpx.AsyncClient, live: httpx.AsyncClient
) -> None:
    author = await register(client, "author")
    slug = (await create_article(client, author))["slug"]
    fans = [await register(client, f"fan{n}") for n in range(100)]
    # A fifth of them favorite twice at once: the second is a no-op even mid-race.
    results = await all_at_once(*(gql(live, FAVORITE, {"slug": slug}, fan) for fan in fans + fans[:20]))
    for payload in payloads(results):
        assert payload["errors"] == [], payload
        assert payload["article"]["favorited"] is True
        assert 1 <= payload["article"]["favoritesCount"] <= 100
    article = (await gql(client, ARTICLE, {"slug": slug}))["data"]["article"]
    assert article["favoritesCount"] == 100


# Optimistic concurrency: one writer wins, the others are told.

CONFLICT = {
    "field": ["input", "expectedUpdatedAt"],
    "message": "the article changed since you read it",
    "code": "CONFLICT",
}
NOT_FOUND = {"field": ["input", "slug"], "message": "article not found", "code": "NOT_FOUND"}


async def test_simultaneous_updates_from_the_same_read_let_one_win(
    client: httpx.AsyncClient, live: httpx.AsyncClient
) -> None:
    token = await register(client, "author")
    read = await create_article(client, token)
    updates = [
        {
            "slug": read["slug"],
            "body": f"version {n}",
            "tagList": [f"v{n}"],
            "expectedUpdatedAt": read["updatedAt"],
        }
        for n in range(20)
    ]
    outcomes = payloads(await all_at_once(*(gql(live, UPDATE_ARTICLE, {"input": u}, token) for u in updates)))
    winners = [payload["article"] for payload in outcomes if payload["errors"] == []]
    assert len(winners) == 1
    assert [payload["errors"] for payload in outcomes if payload["errors"] != []] == [[CONFLICT]] * 19
    [winner] = winners
    assert winner["tagList"] == [f"v{winner['body'].split()[-1]}"]
    after = (await gql(client, ARTICLE, {"slug": read["slug"]}))["data"]["article"]
    assert after["body"] == winner["body"] and after["updatedAt"] == winner["updatedAt"] > read["updatedAt"]


async def test_simultaneous_title_changes_from_the_same_read_let_one_win_and_the_rest_conflict(
    client: httpx.AsyncClient, live: httpx.AsyncClient
) -> None:
    """The winner renames the article (a new title, a new slug): the others, naming the old
    slug, still get CONFLICT, not NOT_FOUND, as their read is out of date: the old slug is in
    the article's history. On SQLite they come one after the other, after the winner: the same
    answers."""
    token = await register(client, "author")
    read = await create_article(client, token)
    updates = [
        {"slug": read["slug"], "title": f"Title number {n}", "expectedUpdatedAt": read["updatedAt"]}
        for n in range(10)
    ]
    outcomes = payloads(await all_at_once(*(gql(live, UPDATE_ARTICLE, {"input": u}, token) for u in updates)))
    winners = [payload["article"] for payload in outcomes if payload["errors"] == []]
    assert [payload["errors"] for payload in outcomes if payload["errors"] != []] == [[CONFLICT]] * 9
    [winner] = winners
    assert winner["slug"] == slugify(winner["title"]) != read["slug"]
    after = (await gql(client, ARTICLE, {"slug": winner["slug"]}))["data"]["article"]
    assert after["title"] == winner["title"] and after["updatedAt"] == winner["updatedAt"]
    # Without a version read, the old slug names nothing any more.
    late = await update_article_payload(client, token, slug=read["slug"], title="Later")
    assert late["errors"] == [NOT_FOUND]
    # The old slug is told apart from one that never existed by the history, not guessed from
    # the versions: with the winner's version it is CONFLICT still (that read showed the new
    # slug), and a slug never used is NOT_FOUND though the article changed since the read.
    current = await update_article_payload(
        client, token, slug=read["slug"], body="x", expectedUpdatedAt=winner["updatedAt"]
    )
    assert current["errors"] == [CONFLICT]
    never = await update_article_payload(
        client, token, slug="never-was", body="x", expectedUpdatedAt=read["updatedAt"]
    )
    assert never["errors"] == [NOT_FOUND]


@pytest.mark.parametrize("versioned", [True, False])
async def test_an_update_waiting_on_a_rename_of_its_article_is_answered_once_it_commits(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, versioned: bool
) -> None:
    """The rename runs in a unit of work the test holds open; the update naming the old slug
    waits on its row lock (PostgreSQL) or its write turn (SQLite), then finds the slug gone
    and, with the version it read, is told the article changed. Without the lock it would
    read the row as it was and overwrite the rename."""
    token = await register(client, "author")
    read = await create_article(client, token, title="Dragons")
    version = {"expectedUpdatedAt": read["updatedAt"]} if versioned else {}
    async with database(app).unit_of_work() as session:
        await db.articles.update(
            session, editor_id=await user_id(app, "author"), slug="dragons", title="Wyverns"
        )
        request = asyncio.create_task(
            update_article_payload(client, token, slug="dragons", body="late", **version)
        )
        await a_statement_waits(settings.database_url)
    payload = await asyncio.wait_for(request, 60)  # a hang guard: it returns once committed
    assert payload == {"article": None, "errors": [CONFLICT if versioned else NOT_FOUND]}
    after = (await gql(client, ARTICLE, {"slug": "wyverns"}))["data"]["article"]
    assert after["body"] == read["body"]


async def a_statement_waits(database_url: str) -> None:
    """Returns once a statement of the app waits on a lock (PostgreSQL). SQLite shows nothing
    to observe: the app's unit of work waits for this process's write turn."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        await asyncio.sleep(0.3)
        return
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    try:
        await wait_for_a_lock_waiter(connection, "no statement of the app waited on the renamed row")
    finally:
        await connection.close()


async def test_updated_at_moves_forward_even_when_the_clock_does_not(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await register(client, "author")
    read = await create_article(client, token)
    # The clock stepped back (NTP, a VM resumed): an update must still change `updatedAt`, or
    # a second writer holding the same read would not be refused.
    earlier = utc_now() - timedelta(hours=1)
    monkeypatch.setattr(db.articles, "utc_now", lambda: earlier)
    expected = {"slug": read["slug"], "expectedUpdatedAt": read["updatedAt"]}
    first = await update_article_payload(client, token, body="first", **expected)
    assert first["errors"] == [] and first["article"]["updatedAt"] > read["updatedAt"]
    second = await update_article_payload(client, token, body="second", **expected)
    assert second["errors"] == [CONFLICT]


# Slugs: one title written by many at once still gives each article its own slug.


async def test_articles_created_at_once_with_one_title_get_distinct_slugs(
    client: httpx.AsyncClient, live: httpx.AsyncClient
) -> None:
    token = await register(client, "author")
    results = await all_at_once(
        *(gql(live, CREATE_ARTICLE, {"input": article_input(tagList=["same"])}, token) for _ in range(20))
    )
    outcomes = payloads(results)
    assert [payload["errors"] for payload in outcomes] == [[]] * 20
    slugs = Counter(payload["article"]["slug"] for payload in outcomes)
    assert len(slugs) == 20 and "how-to-train-your-dragon" in slugs


# A write racing the deletion of its article: NOT_FOUND, never an internal error.

FAVORITE_OR_COMMENT = {
    "favoriteArticle": (FAVORITE, lambda slug: {"slug": slug}, ["slug"]),
    "addComment": (
        ADD_COMMENT,
        lambda slug: {"input": {"articleSlug": slug, "body": "hi"}},
        ["input", "articleSlug"],
    ),
}


@pytest.mark.parametrize("mutation", list(FAVORITE_OR_COMMENT))
async def test_a_write_waiting_on_the_deletion_of_its_article_finds_it_gone(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, mutation: str
) -> None:
    query, variables, field = FAVORITE_OR_COMMENT[mutation]
    author = await register(client, "author")
    reader = await register(client, "reader")
    slug = (await create_article(client, author))["slug"]
    async with deletion_held_open(settings.database_url, slug) as deletion:
        # The write starts while the deletion is done but not committed: it sees the article.
        request = asyncio.create_task(gql(client, query, variables(slug), reader))
        await deletion.waited_on()
        await deletion.commit()
        result = await asyncio.wait_for(request, 60)  # a hang guard: it returns once committed
    assert "errors" not in result, result
    payload = result["data"][mutation]
    assert payload["errors"] == [{"field": field, "message": "article not found", "code": "NOT_FOUND"}]
    assert [await count_rows(app, t) for t in ("articles", "favorites", "comments")] == [0, 0, 0]


class Deletion:
    """An article deleted by a transaction outside the app, committed when the test says."""

    def __init__(self, postgres: asyncpg.Connection | None, sqlite: sqlite3.Connection | None) -> None:
        self.postgres = postgres
        self.sqlite = sqlite

    async def waited_on(self) -> None:
        """Returns once an app's statement waits on the deleted row (PostgreSQL). SQLite shows
        nothing to observe: the app's BEGIN IMMEDIATE retries until the writer is done."""
        if self.postgres is None:
            await asyncio.sleep(0.3)
            return
        await wait_for_a_lock_waiter(self.postgres, "no statement of the app waited on the deleted row")

    async def commit(self) -> None:
        if self.postgres is not None:
            await self.postgres.execute("COMMIT")
        if self.sqlite is not None:
            self.sqlite.execute("COMMIT")


@asynccontextmanager
async def deletion_held_open(database_url: str, slug: str) -> AsyncIterator[Deletion]:
    url = make_url(database_url)
    delete = "DELETE FROM articles WHERE slug = "
    if url.get_backend_name() == "postgresql":
        connection = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
        )
        try:
            await connection.execute("BEGIN")
            await connection.execute(delete + "$1", slug)
            yield Deletion(connection, None)
        finally:
            await connection.close()
        return
    writer = sqlite3.connect(str(url.database), isolation_level=None)
    try:
        writer.execute("PRAGMA foreign_keys = ON")
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(delete + "?", (slug,))
        yield Deletion(None, writer)
    finally:
        writer.close()
