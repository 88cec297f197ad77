"""A token whose user is gone proves nothing: every mutation is refused as a whole, UNAUTHENTICATED.

The user's row is deleted straight in SQL (an operator, a GDPR request), so the token still
verifies. Before, the writes met a foreign key violation (INTERNAL_SERVER_ERROR) or, for
createArticle, a slug retry loop that took it for a slug collision (CONFLICT).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import db.articles
from tests.gql import register
from tests.graph.factories import (
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
