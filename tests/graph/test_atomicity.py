"""A mutation is one unit of work: a failure halfway leaves nothing behind, on both engines."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

import db.tags
from tests.support.factories import (
    CREATE_ARTICLE,
    UPDATE_ARTICLE,
    article_input,
    count_rows,
    create_article,
    gql,
)
from tests.support.gql import register


class Boom(Exception):
    """The failure the tests inject."""


async def test_failure_after_the_article_insert_leaves_no_article_tags_or_links(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await register(client, "alice")
    replace = db.tags.replace

    async def replace_then_fail(session: AsyncSession, *, article_id: int, names: list[str]) -> None:
        await replace(session, article_id=article_id, names=names)
        assert await count_rows_in(session, "articles") == 1  # the insert did happen
        raise Boom("the disk caught fire")

    monkeypatch.setattr(db.tags, "replace", replace_then_fail)
    result = await gql(client, CREATE_ARTICLE, {"input": article_input(tagList=["a", "b"])}, token)
    (error,) = result.pop("errors")
    assert result == {"data": None}
    assert error["message"] == "Internal server error"
    assert error["path"] == ["createArticle"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert set(error["extensions"]) == {"code", "errorId"}
    assert [await count_rows(app, t) for t in ("articles", "tags", "article_tags")] == [0, 0, 0]

    monkeypatch.undo()
    created = await create_article(client, token, tagList=["a", "b"])
    assert created["slug"] == "how-to-train-your-dragon"
    assert [await count_rows(app, t) for t in ("articles", "tags", "article_tags")] == [1, 2, 2]


async def test_failure_during_an_update_keeps_the_old_article_and_tags(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["old"])
    replace = db.tags.replace

    async def replace_then_fail(session: AsyncSession, *, article_id: int, names: list[str]) -> None:
        await replace(session, article_id=article_id, names=names)
        raise Boom("the disk caught fire")

    monkeypatch.setattr(db.tags, "replace", replace_then_fail)
    result = await gql(
        client,
        UPDATE_ARTICLE,
        {"input": {"slug": created["slug"], "title": "New title", "tagList": ["new"]}},
        token,
    )
    assert result["data"] is None
    assert result["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    monkeypatch.undo()
    after = await gql(
        client, "query($s: String!) { article(slug: $s) { title tagList } }", {"s": created["slug"]}
    )
    assert after == {"data": {"article": {"title": created["title"], "tagList": ["old"]}}}
    assert [await count_rows(app, t) for t in ("articles", "article_tags")] == [1, 1]


async def count_rows_in(session: AsyncSession, table: str) -> int:
    from sqlalchemy import func, select, text

    return (await session.scalar(select(func.count()).select_from(text(table)))) or 0
