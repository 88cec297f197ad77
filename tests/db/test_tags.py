"""`TagNames`: article reads asked for the tag names carry them, in the author's order, on
both engines (an array on PostgreSQL, a JSON array on SQLite); reads not asked for them do not,
and the API loads the names instead. Either way a client sees the same `tagList`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

import db.articles
import db.tags
from db.articles import ArticleFilter
from db.models import Article
from db.rows import ArticleRow
from db.sql.demand import Demand
from db.sql.paging import Window
from tests.support.factories import create_article, database, gql, update_article_payload, user_id
from tests.support.gql import register

# Tag ids follow first use: mid < alpha < zeta. The second article lists them in another order,
# so neither the tags' ids nor their names give the author's order; only the positions do.
FIRST = ["mid", "alpha", "zeta"]
SECOND = ["zeta", "alpha", "mid"]


async def write(app: FastAPI, author_id: int, title: str, tags: list[str] | None) -> int:
    async with database(app).unit_of_work() as session:
        article = await db.articles.create(
            session, author_id=author_id, title=title, description="d", body="b", tag_list=tags
        )
    return article.id


@pytest.fixture
async def articles(app: FastAPI, client: httpx.AsyncClient) -> dict[str, int]:
    """Three articles by alice: two tagged in different orders, one without tags; title -> id."""
    await register(client, "alice")
    author_id = await user_id(app, "alice")
    return {
        title: await write(app, author_id, title, tags)
        for title, tags in [("First", FIRST), ("Second", SECOND), ("Bare", None)]
    }


EXPECTED = {"First": FIRST, "Second": SECOND, "Bare": []}

Read = Callable[[AsyncSession, dict[str, int], Demand | None], Awaitable[list[ArticleRow]]]
TAGGED = Demand(columns=frozenset({"title"}), computed=frozenset({"tag_list"}))


async def by_slug(session: AsyncSession, ids: dict[str, int], demand: Demand | None) -> list[ArticleRow]:
    found = [await db.articles.get_by_slug(session, title.lower(), demand) for title in ids]
    assert None not in found
    return found


async def by_id(session: AsyncSession, ids: dict[str, int], demand: Demand | None) -> list[ArticleRow]:
    return list((await db.articles.articles_by_id(session, list(ids.values()), demand)).values())


async def listed(session: AsyncSession, ids: dict[str, int], demand: Demand | None) -> list[ArticleRow]:
    page = await db.articles.list_articles(
        session, narrowing=ArticleFilter(), window=Window(10), demand=demand
    )
    return page.rows


async def by_author(session: AsyncSession, ids: dict[str, int], demand: Demand | None) -> list[ArticleRow]:
    author_id = await session.scalar(select(Article.author_id).where(Article.id == ids["First"]))
    assert author_id is not None
    pages = await db.articles.pages_by_author_id(session, [author_id], Window(10), demand)
    return pages[author_id].rows


READS: dict[str, Read] = {"by slug": by_slug, "by id": by_id, "listed": listed, "by author": by_author}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
async def test_article_reads_asked_for_tag_names_carry_them_in_order(
    app: FastAPI, articles: dict[str, int], read: Read
) -> None:
    async with database(app).read_session() as session:
        found = await read(session, articles, TAGGED)
        unasked = await read(session, articles, None)
    assert {row.title: row.tag_list for row in found} == EXPECTED
    assert not any(hasattr(row, "tag_list") for row in unasked)


async def test_carried_tag_names_follow_a_reordering(
    app: FastAPI, client: httpx.AsyncClient, articles: dict[str, int], engine_name: str
) -> None:
    author_id = await user_id(app, "alice")
    async with database(app).unit_of_work() as session:
        await db.articles.update(session, editor_id=author_id, slug="first", tag_list=["zeta", "new", "mid"])
        await db.articles.update(session, editor_id=author_id, slug="second", tag_list=[])
    async with database(app).read_session() as session:
        found = await by_id(session, articles, TAGGED)
    tag_lists = {row.title: row.tag_list for row in found}
    assert tag_lists == {"First": ["zeta", "new", "mid"], "Second": [], "Bare": []}


async def test_names_by_article_id_are_in_the_authors_order_and_skip_untagged(
    app: FastAPI, articles: dict[str, int]
) -> None:
    async with database(app).read_session() as session:
        names = await db.tags.names_by_article_id(session, list(articles.values()))
    assert names == {articles["First"]: FIRST, articles["Second"]: SECOND}


def test_tag_names_compile_to_an_array_on_postgresql_and_a_json_array_on_sqlite(
    app: FastAPI, engine_name: str
) -> None:
    article_id = Article.__table__.c.id
    stmt = select(article_id, db.tags.TagNames(article_id).label("tag_list"))
    compiled = str(stmt.compile(dialect=database(app).engine.dialect))
    if engine_name == "postgresql":
        assert "ARRAY(SELECT tags.name" in compiled
        assert "ORDER BY article_tags.position" in compiled
    else:
        assert "json_group_array(name)" in compiled
    assert "ORDER BY article_tags.position" in compiled


# Through the API: the same tagList on both engines, read with the article or loaded.

TAG_LISTS = """
{
  articles { nodes { title tagList } }
  first: article(slug: "first") { tagList }
  bare: article(slug: "bare") { tagList }
}
"""


@pytest.fixture
def sql(app: FastAPI) -> Iterator[list[str]]:
    texts: list[str] = []

    def record(_: Any, __: Any, statement: str, *___: Any) -> None:
        texts.append(statement)

    sync_engine = database(app).engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    yield texts
    event.remove(sync_engine, "before_cursor_execute", record)


def loads_of_tag_names(texts: list[str]) -> int:
    """Statements that read tag names on their own (`db.tags.names_by_article_id`)."""
    return sum(text.lstrip().startswith("SELECT article_tags.article_id, tags.name") for text in texts)


async def test_the_api_shows_the_authors_order_read_with_the_articles(
    client: httpx.AsyncClient, articles: dict[str, int], sql: list[str]
) -> None:
    sql.clear()
    result = await gql(client, TAG_LISTS)
    assert result == {
        "data": {
            "articles": {
                "nodes": [
                    {"title": "Bare", "tagList": []},
                    {"title": "Second", "tagList": SECOND},
                    {"title": "First", "tagList": FIRST},
                ]
            },
            "first": {"tagList": FIRST},
            "bare": {"tagList": []},
        }
    }
    assert loads_of_tag_names(sql) == 0  # read with the articles, on both engines


async def test_the_api_shows_changed_tags(client: httpx.AsyncClient, engine_name: str) -> None:
    token = await register(client, "bob")
    await create_article(client, token, title="Changing", tagList=["one", "two"])
    payload = await update_article_payload(client, token, slug="changing", tagList=["two", "three", "one"])
    assert payload["errors"] == []
    assert payload["article"]["tagList"] == ["two", "three", "one"]
    result = await gql(client, '{ article(slug: "changing") { tagList } }')
    assert result == {"data": {"article": {"tagList": ["two", "three", "one"]}}}
