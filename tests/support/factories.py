"""Small async factories for the API tests: they go through GraphQL unless noted."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, text

import db.articles
from db.models import User
from db.sql.engine import Database
from tests.support import gql as client_gql

ERRORS = "errors { field message code }"


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """The response without its top-level `extensions` (cost reports), so tests compare the rest whole."""
    return without_extensions(await client_gql.gql(client, query, variables, token))


def without_extensions(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "extensions"}


ARTICLE_FIELDS = """
fragment ArticleFields on Article {
  id slug title description body tagList createdAt updatedAt favorited favoritesCount
  author { username }
}
"""

CREATE_ARTICLE = (
    """
mutation CreateArticle($input: CreateArticleInput!) {
  createArticle(input: $input) { article { ...ArticleFields } errors { field message code } }
}
"""
    + ARTICLE_FIELDS
)

UPDATE_ARTICLE = (
    """
mutation UpdateArticle($input: UpdateArticleInput!) {
  updateArticle(input: $input) { article { ...ArticleFields } errors { field message code } }
}
"""
    + ARTICLE_FIELDS
)

ADD_COMMENT = """
mutation AddComment($input: AddCommentInput!) {
  addComment(input: $input) {
    comment { id body author { username } article { slug } }
    errors { field message code }
  }
}
"""

FOLLOW = """
mutation Follow($username: String!) {
  followUser(username: $username) {
    user { username following followersCount }
    errors { field message code }
  }
}
"""

UNFOLLOW = """
mutation Unfollow($username: String!) {
  unfollowUser(username: $username) {
    user { username following followersCount }
    errors { field message code }
  }
}
"""

FAVORITE = """
mutation Favorite($slug: String!) {
  favoriteArticle(slug: $slug) { article { slug favorited favoritesCount } errors { field message code } }
}
"""

UNFAVORITE = """
mutation Unfavorite($slug: String!) {
  unfavoriteArticle(slug: $slug) { article { slug favorited favoritesCount } errors { field message code } }
}
"""


def article_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "How to train your dragon",
        "description": "Ever wonder how?",
        "body": "You have to believe",
    }
    values.update(overrides)
    return values


async def create_article_payload(client: httpx.AsyncClient, token: str | None, **fields: Any) -> Any:
    """The `createArticle` payload, errors included."""
    result = await gql(client, CREATE_ARTICLE, {"input": article_input(**fields)}, token)
    assert "errors" not in result, result
    return result["data"]["createArticle"]


async def create_article(client: httpx.AsyncClient, token: str, **fields: Any) -> Any:
    """A new article through the API; returns its ArticleFields."""
    payload = await create_article_payload(client, token, **fields)
    assert payload["errors"] == [], payload
    return payload["article"]


async def update_article_payload(client: httpx.AsyncClient, token: str | None, **fields: Any) -> Any:
    result = await gql(client, UPDATE_ARTICLE, {"input": fields}, token)
    assert "errors" not in result, result
    return result["data"]["updateArticle"]


async def add_comment_payload(client: httpx.AsyncClient, token: str | None, slug: str, body: str) -> Any:
    result = await gql(client, ADD_COMMENT, {"input": {"articleSlug": slug, "body": body}}, token)
    assert "errors" not in result, result
    return result["data"]["addComment"]


async def add_comment(client: httpx.AsyncClient, token: str, slug: str, body: str = "Nice!") -> Any:
    payload = await add_comment_payload(client, token, slug, body)
    assert payload["errors"] == [], payload
    return payload["comment"]


async def mutate(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None) -> Any:
    """The only field of a mutation's data; fails on any GraphQL error."""
    result = await gql(client, query, variables, token)
    assert "errors" not in result, result
    (payload,) = result["data"].values()
    return payload


async def follow(client: httpx.AsyncClient, token: str, username: str) -> None:
    payload = await mutate(client, FOLLOW, {"username": username}, token)
    assert payload["errors"] == [], payload


async def favorite(client: httpx.AsyncClient, token: str, slug: str) -> None:
    payload = await mutate(client, FAVORITE, {"slug": slug}, token)
    assert payload["errors"] == [], payload


def database(app: FastAPI) -> Database:
    found: Database = app.state.services.database
    return found


async def user_id(app: FastAPI, username: str) -> int:
    async with database(app).read_session() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


async def create_articles(
    app: FastAPI, author: str, count: int, *, tag_list: list[str] | None = None, prefix: str = "Article"
) -> list[str]:
    """`count` articles by `author` in one unit of work, straight through the repository; slugs."""
    author_id = await user_id(app, author)
    async with database(app).unit_of_work() as session:
        rows = [
            await db.articles.create(
                session,
                author_id=author_id,
                title=f"{prefix} {number}",
                description=f"About {number}",
                body=f"Body {number}",
                tag_list=tag_list,
            )
            for number in range(count)
        ]
    return [row.slug for row in rows]


async def count_rows(app: FastAPI, table: str) -> int:
    """How many rows `table` holds (the name comes from the test, never from input)."""
    async with database(app).read_session() as session:
        found = await session.scalar(select(func.count()).select_from(text(table)))
    return found or 0
