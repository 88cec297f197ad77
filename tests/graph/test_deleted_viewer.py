"""A token whose user is gone proves nothing: every mutation is refused as a whole, UNAUTHENTICATED.

The user's row is deleted straight in SQL (an operator, a GDPR request), so the token still
verifies. Before, the writes met a foreign key violation (INTERNAL_SERVER_ERROR) or, for
createArticle, a slug retry loop that took it for a slug collision (CONFLICT).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

import db.articles
from db.settings import Settings
from tests.support.databases import ONLY_POSTGRESQL, wait_for_a_lock_waiter
from tests.support.factories import (
    ADD_COMMENT,
    CREATE_ARTICLE,
    FAVORITE,
    FOLLOW,
    UNFAVORITE,
    UNFOLLOW,
    UPDATE_ARTICLE,
    add_comment,
    article_input,
    count_rows,
    create_article,
    database,
    gql,
    user_id,
)
from tests.support.gql import register

DELETE_ARTICLE = "mutation($slug: String!) { deleteArticle(slug: $slug) { deletedId errors { code } } }"
DELETE_COMMENT = "mutation($id: ID!) { deleteComment(id: $id) { deletedId errors { code } } }"
UPDATE_VIEWER = "mutation($input: UpdateViewerInput!) { updateViewer(input: $input) { viewer { email } } }"
GONE = {
    "data": None,
    "errors": [{"message": "the token's user no longer exists", "extensions": {"code": "UNAUTHENTICATED"}}],
}
TABLES = ("users", "articles", "article_tags", "comments", "favorites", "follows")


def mutations(slug: str, comment_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every mutation a signed-in viewer may send, aimed at things that exist."""
    return {
        "addComment": (ADD_COMMENT, {"input": {"articleSlug": slug, "body": "Hello"}}),
        "favoriteArticle": (FAVORITE, {"slug": slug}),
        "unfavoriteArticle": (UNFAVORITE, {"slug": slug}),
        "followUser": (FOLLOW, {"username": "other"}),
        "unfollowUser": (UNFOLLOW, {"username": "other"}),
        "createArticle": (CREATE_ARTICLE, {"input": article_input(tagList=["a", "b"])}),
        "updateViewer": (UPDATE_VIEWER, {"input": {"bio": "still here?"}}),
        "updateArticle": (UPDATE_ARTICLE, {"input": {"slug": slug, "title": "Taken over"}}),
        "deleteArticle": (DELETE_ARTICLE, {"slug": slug}),
        "deleteComment": (DELETE_COMMENT, {"id": comment_id}),
    }


async def delete_user(app: FastAPI, username: str) -> None:
    gone = await user_id(app, username)
    async with database(app).unit_of_work() as session:
        await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone})


async def counts(app: FastAPI) -> list[int]:
    return [await count_rows(app, table) for table in TABLES]


@pytest.mark.parametrize(
    "name",
    [
        "addComment",
        "favoriteArticle",
        "unfavoriteArticle",
        "followUser",
        "unfollowUser",
        "createArticle",
        "updateViewer",
        "updateArticle",
        "deleteArticle",
        "deleteComment",
    ],
)
async def test_every_mutation_with_the_token_of_a_deleted_user_is_unauthenticated(
    client: httpx.AsyncClient, app: FastAPI, name: str
) -> None:
    other = await register(client, "other")
    article = await create_article(client, other)
    comment = await add_comment(client, other, article["slug"])
    token = await register(client, "deleted")
    await delete_user(app, "deleted")
    before = await counts(app)
    query, variables = mutations(article["slug"], comment["id"])[name]

    assert await gql(client, query, variables, token) == GONE
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 401
    assert response.json() == {key: value for key, value in GONE.items() if key != "data"}
    assert await counts(app) == before


async def test_a_mutation_of_several_fields_is_refused_before_any_runs(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await register(client, "other")
    token = await register(client, "deleted")
    await delete_user(app, "deleted")
    before = await counts(app)
    both = """
    mutation { a: followUser(username: "other") { errors { code } }
               b: createArticle(input: {title: "T", description: "D", body: "B"}) { errors { code } } }
    """
    assert await gql(client, both, token=token) == GONE
    assert await counts(app) == before


async def test_creating_an_article_for_a_missing_author_is_no_slug_collision(app: FastAPI) -> None:
    """The repository, without the operation's check: a foreign key violation stays one."""
    with pytest.raises(IntegrityError):
        async with database(app).unit_of_work() as session:
            await db.articles.create(
                session, author_id=987_654, title="Orphan", description="D", body="B", tag_list=None
            )
    assert await count_rows(app, "articles") == 0


@ONLY_POSTGRESQL  # concurrent transactions are PostgreSQL's
async def test_a_deletion_racing_a_write_waits_for_it_instead_of_breaking_it(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """PostgreSQL: the operation keeps the viewer's row (FOR KEY SHARE) from its check on, so a
    deletion that comes between the check and the INSERT waits; it never turns the INSERT into a
    foreign key violation. (SQLite's units of work run one at a time: nothing can come between.)"""
    other = await register(client, "other")
    slug = (await create_article(client, other))["slug"]
    token = await register(client, "racer")
    gone = await user_id(app, "racer")
    url = make_url(settings.database_url)
    holder, deleter = [
        await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
        for _ in range(2)
    ]
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT id FROM articles WHERE slug = $1 FOR UPDATE", slug)
        body = {"query": FAVORITE, "variables": {"slug": slug}}
        write = asyncio.create_task(
            client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
        )
        # The favorite checked and kept its viewer, and now waits for the article's row.
        await wait_for_a_lock_waiter(holder, "the favorite never waited on the article")
        await deleter.execute("SET lock_timeout = '500ms'")
        with pytest.raises(asyncpg.exceptions.LockNotAvailableError):
            await deleter.execute("DELETE FROM users WHERE id = $1", gone)
        await holder.execute("ROLLBACK")
        response = await asyncio.wait_for(write, 30)
    finally:
        await holder.close()
        await deleter.close()
    assert response.json()["data"]["favoriteArticle"] == {
        "article": {"slug": slug, "favorited": True, "favoritesCount": 1},
        "errors": [],
    }
