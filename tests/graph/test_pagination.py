"""Cursor pagination: walks in both directions without gaps or duplicates, and its argument rules."""

from __future__ import annotations

import base64
import math
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from db.models import Article
from tests.support.factories import create_articles, database, follow, gql
from tests.support.gql import register

TOTAL = 45

FORWARD = """
query Forward($first: Int, $after: String) {
  articles(first: $first, after: $after) {
    totalCount
    edges { cursor node { slug } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

BACKWARD = """
query Backward($last: Int, $before: String) {
  articles(last: $last, before: $before) {
    totalCount
    edges { cursor node { slug } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def seed_45(app: FastAPI, client: httpx.AsyncClient) -> list[str]:
    """45 articles, newest first; groups of three share a creation time so the id must break ties."""
    await register(client, "author")
    created = await create_articles(app, "author", TOTAL)
    async with database(app).unit_of_work() as session:
        rows = (await session.execute(select(Article.id, Article.created_at).order_by(Article.id))).all()
        base = rows[0].created_at
        for index, (article_id, _) in enumerate(rows):
            await session.execute(
                update(Article)
                .where(Article.id == article_id)
                .values(created_at=base + timedelta(seconds=index // 3))
            )
    return list(reversed(created))


async def page(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    result = await gql(client, query, variables)
    assert "errors" not in result, result
    connection = result["data"]["articles"]
    assert connection["totalCount"] == TOTAL
    cursors = [edge["cursor"] for edge in connection["edges"]]
    info = connection["pageInfo"]
    assert info["startCursor"] == (cursors[0] if cursors else None)
    assert info["endCursor"] == (cursors[-1] if cursors else None)
    return connection


@pytest.mark.parametrize("size", [1, 7, 20])
async def test_forward_walk_visits_every_article_once_in_order(
    app: FastAPI, client: httpx.AsyncClient, size: int
) -> None:
    expected = await seed_45(app, client)
    seen: list[str] = []
    flags: list[tuple[bool, bool]] = []
    after = None
    while True:
        connection = await page(client, FORWARD, first=size, after=after)
        seen += [edge["node"]["slug"] for edge in connection["edges"]]
        info = connection["pageInfo"]
        flags.append((info["hasPreviousPage"], info["hasNextPage"]))
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == expected
    pages = math.ceil(TOTAL / size)
    assert flags == [(False, True)] + [(True, True)] * (pages - 2) + [(True, False)]


@pytest.mark.parametrize("size", [1, 7, 20])
async def test_backward_walk_visits_every_article_once_in_order(
    app: FastAPI, client: httpx.AsyncClient, size: int
) -> None:
    expected = await seed_45(app, client)
    seen: list[str] = []
    flags: list[tuple[bool, bool]] = []
    before = None
    while True:
        connection = await page(client, BACKWARD, last=size, before=before)
        seen = [edge["node"]["slug"] for edge in connection["edges"]] + seen
        info = connection["pageInfo"]
        flags.append((info["hasPreviousPage"], info["hasNextPage"]))
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert seen == expected
    pages = math.ceil(TOTAL / size)
    assert flags == [(True, False)] + [(True, True)] * (pages - 2) + [(False, True)]


async def test_first_page_then_back_with_before_returns_to_the_start(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    expected = await seed_45(app, client)
    first = await page(client, FORWARD, first=10)
    second = await page(client, FORWARD, first=10, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["slug"] for e in second["edges"]] == expected[10:20]
    back = await page(client, BACKWARD, last=10, before=second["pageInfo"]["startCursor"])
    assert [e["node"]["slug"] for e in back["edges"]] == expected[:10]
    assert back["pageInfo"]["hasPreviousPage"] is False
    assert back["pageInfo"]["hasNextPage"] is True


async def test_first_zero_returns_no_nodes(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_45(app, client)
    connection = await page(client, FORWARD, first=0)
    assert connection["edges"] == []
    assert connection["pageInfo"]["hasNextPage"] is True


async def test_default_page_size_is_20_and_100_is_allowed(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_45(app, client)
    assert len((await page(client, FORWARD))["edges"]) == 20
    everything = await page(client, FORWARD, first=100)
    assert len(everything["edges"]) == TOTAL
    assert everything["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($n: Int) { articles(first: $n) { totalCount } }", {"n": 101}),
        ("query($n: Int) { articles(first: $n) { totalCount } }", {"n": -1}),
        ("query($n: Int) { articles(last: $n) { totalCount } }", {"n": 101}),
        ("query($n: Int) { articles(last: $n) { totalCount } }", {"n": -5}),
        ('{ user(username: "author") { articles(first: 101) { totalCount } } }', {}),
        ('{ user(username: "author") { favorites(first: -1) { totalCount } } }', {}),
        ("{ viewer { feed(first: 1000) { totalCount } } }", {}),
        ("{ articles { nodes { comments(first: 101) { totalCount } } } }", {}),
    ],
)
async def test_page_size_outside_0_to_100_is_bad_user_input(
    app: FastAPI, client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> None:
    token = await register(client, "author")
    await create_articles(app, "author", 1)
    result = await gql(client, query, variables, token)
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        _b64("not a cursor"),
        _b64("2026-01-01T00:00:00|x"),
        _b64("2026-01-01T00:00:00|1"),  # no UTC offset: this server never makes one
        _b64("2026-01-01T00:00:00+00:00|-1"),
        _b64("2026-13-01T00:00:00+00:00|1"),
        "",
    ],
)
@pytest.mark.parametrize("argument", ["after", "before"])
async def test_malformed_cursor_is_bad_user_input(
    client: httpx.AsyncClient, cursor: str, argument: str
) -> None:
    result = await gql(
        client, f"query($c: String) {{ articles({argument}: $c) {{ totalCount }} }}", {"c": cursor}
    )
    assert result["data"] is None
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


async def test_first_and_last_together_is_bad_user_input(client: httpx.AsyncClient) -> None:
    result = await gql(client, "{ articles(first: 1, last: 1) { totalCount } }")
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


FEED = """
query Feed($first: Int, $after: String, $last: Int, $before: String) {
  viewer {
    feed(first: $first, after: $after, last: $last, before: $before) {
      totalCount nodes { slug } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


async def test_feed_walks_forward_and_backward(app: FastAPI, client: httpx.AsyncClient) -> None:
    expected = await seed_45(app, client)
    reader = await register(client, "reader")
    await register(client, "other")
    await create_articles(app, "other", 3, prefix="Unfollowed")
    await follow(client, reader, "author")

    async def feed(**variables: Any) -> Any:
        result = await gql(client, FEED, variables, reader)
        assert "errors" not in result, result
        connection = result["data"]["viewer"]["feed"]
        assert connection["totalCount"] == TOTAL
        return connection

    seen: list[str] = []
    after = None
    while True:
        connection = await feed(first=8, after=after)
        seen += [node["slug"] for node in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == expected
    seen = []
    before = None
    while True:
        connection = await feed(last=8, before=before)
        seen = [node["slug"] for node in connection["nodes"]] + seen
        if not connection["pageInfo"]["hasPreviousPage"]:
            break
        before = connection["pageInfo"]["startCursor"]
    assert seen == expected
