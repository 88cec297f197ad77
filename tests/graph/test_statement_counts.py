"""No N+1: an operation runs as many SQL statements at page size 50 as at page size 1, and
exactly as many as the comment above each operation lists, on each engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select

from db.models import Article, ArticleTag, Comment, Favorite, Follow, Tag, User, utc_now
from db.settings import Settings
from tests.support.counting import StatementCounter
from tests.support.engines import settings_for
from tests.support.factories import database, gql
from tests.support.gql import register

SIZES = (1, 10, 50)

# One: the articles with their authors, tag names, favorites counts and the viewer's flags
# (db/shown.py), on both engines.
VIEWER_LIST_STATEMENTS = {"postgresql": 1, "sqlite": 1}
VIEWER_LIST = """
query($n: Int) {
  articles(first: $n) { nodes { author { username following } tagList favorited favoritesCount } }
}
"""

# SQLite: the articles; the comments pages of all of them, with their authors. PostgreSQL builds
# the whole answer in one statement (graph/execution/compiled.py).
NESTED_COMMENTS_STATEMENTS = {"postgresql": 1, "sqlite": 2}
NESTED_COMMENTS = """
query($n: Int) {
  articles(first: $n) { nodes { comments(first: 10) { nodes { body author { username } } } } }
}
"""

# SQLite: one per root field and nested connection: the user; their articles page; its comments
# pages (with authors); the authors' articles pages, read for their `totalCount`, which comes with
# them. PostgreSQL: one, the whole answer as JSON.
PROFILE_TREE_STATEMENTS = {"postgresql": 1, "sqlite": 4}
PROFILE_TREE = """
query($n: Int) {
  user(username: "writer0") {
    articles(first: $n) {
      nodes { comments(first: $n) { nodes { author { articles { totalCount } } } } }
    }
  }
}
"""


async def seed(app: FastAPI, client: httpx.AsyncClient) -> str:
    """8 users; writer0 has 60 articles of 55 comments each, the others 6 of 12; tags, favorites, follows."""
    tokens = [await register(client, f"writer{number}") for number in range(8)]
    async with database(app).unit_of_work() as session:
        users = list((await session.scalars(select(User.id).order_by(User.id))).all())
        now = utc_now()
        articles = [
            {
                "slug": f"article-{author}-{number}",
                "title": f"Article {author} {number}",
                "description": "d",
                "body": "b",
                "author_id": users[author],
                "created_at": now - timedelta(minutes=number * 8 + author),
                "updated_at": now,
            }
            for author in range(8)
            for number in range(60 if author == 0 else 6)
        ]
        await session.execute(insert(Article), articles)
        article_ids = list((await session.scalars(select(Article.id).order_by(Article.id))).all())
        await session.execute(insert(Tag), [{"name": f"tag{number}"} for number in range(10)])
        tag_ids = list((await session.scalars(select(Tag.id).order_by(Tag.id))).all())
        await session.execute(
            insert(ArticleTag),
            [
                {"article_id": article_id, "tag_id": tag_ids[(index + shift) % 10], "position": shift}
                for index, article_id in enumerate(article_ids)
                for shift in range(3)
            ],
        )
        await session.execute(
            insert(Favorite),
            [
                {"user_id": user_id, "article_id": article_id, "created_at": now}
                for number, user_id in enumerate(users)
                for article_id in article_ids[number::2]
            ],
        )
        await session.execute(
            insert(Follow),
            [
                {"follower_id": follower, "followee_id": followee, "created_at": now}
                for follower in users
                for followee in users[::2]
                if follower != followee
            ],
        )
        await session.execute(
            insert(Comment),
            [
                {
                    "body": f"comment {number}",
                    "article_id": article_id,
                    "author_id": users[number % 8],
                    "created_at": now + timedelta(seconds=number),
                    "updated_at": now,
                }
                for index, article_id in enumerate(article_ids)
                for number in range(55 if index < 60 else 12)
            ],
        )
    return tokens[1]


async def counts(
    client: httpx.AsyncClient, statements: StatementCounter, query: str, token: str | None = None
) -> dict[int, int]:
    found: dict[int, int] = {}
    for size in SIZES:
        statements.count = 0
        result = await gql(client, query, {"n": size}, token)
        found[size] = statements.count
        assert "errors" not in result, result
    return found


def nodes(data: Any, *path: str) -> list[Any]:
    for part in path:
        data = data[part]
    return list(data["nodes"])


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    """The cost limit would refuse (c) at size 50 (50 x 50 x 20 rows); it is not what is measured here."""
    return settings_for(migrated_url, max_query_cost=1_000_000)


@pytest.fixture
async def viewer_token(app: FastAPI, client: httpx.AsyncClient) -> str:
    return await seed(app, client)


async def test_article_list_with_authors_tags_and_flags_runs_constant_statements(
    client: httpx.AsyncClient, statements: StatementCounter, viewer_token: str, engine_name: str
) -> None:
    result = await gql(client, VIEWER_LIST, {"n": 50}, viewer_token)
    listed = nodes(result["data"], "articles")
    assert len(listed) == 50
    assert {len(node["tagList"]) for node in listed} == {3}
    assert {node["favorited"] for node in listed} == {True, False}
    assert {node["author"]["following"] for node in listed} == {True, False}
    assert max(node["favoritesCount"] for node in listed) > 1
    found = await counts(client, statements, VIEWER_LIST, viewer_token)
    print(
        f"\n(a) articles with author, following, tagList, favorited, favoritesCount [{engine_name}]: {found}"
    )
    assert found == dict.fromkeys(SIZES, VIEWER_LIST_STATEMENTS[engine_name])


async def test_nested_comments_under_an_article_list_run_constant_statements(
    client: httpx.AsyncClient, statements: StatementCounter, viewer_token: str, engine_name: str
) -> None:
    result = await gql(client, NESTED_COMMENTS, {"n": 50})
    listed = nodes(result["data"], "articles")
    assert len(listed) == 50
    assert sum(len(nodes(node, "comments")) for node in listed) >= 10 * 40
    found = await counts(client, statements, NESTED_COMMENTS)
    print(f"\n(b) articles with comments(first: 10) and their authors [{engine_name}]: {found}")
    assert found == dict.fromkeys(SIZES, NESTED_COMMENTS_STATEMENTS[engine_name])


async def test_profile_tree_of_articles_comments_and_author_counts_runs_constant_statements(
    client: httpx.AsyncClient, statements: StatementCounter, viewer_token: str, engine_name: str
) -> None:
    result = await gql(client, PROFILE_TREE, {"n": 50})
    assert "errors" not in result, result
    listed = nodes(result["data"], "user", "articles")
    assert len(listed) == 50
    assert {len(nodes(node, "comments")) for node in listed} == {50}
    totals = {c["author"]["articles"]["totalCount"] for node in listed for c in nodes(node, "comments")}
    assert totals == {60, 6}
    found = await counts(client, statements, PROFILE_TREE)
    print(f"\n(c) user → articles → comments → author → articles.totalCount [{engine_name}]: {found}")
    assert found == dict.fromkeys(SIZES, PROFILE_TREE_STATEMENTS[engine_name])
