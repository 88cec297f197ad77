"""Comments: addComment, deleteComment, Article.comments and Comment.article."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from db.models import Comment
from graph.node import to_global_id
from tests.support.factories import (
    add_comment,
    add_comment_payload,
    count_rows,
    create_article,
    database,
    gql,
    mutate,
)
from tests.support.gql import register

DELETE_COMMENT = """
mutation Delete($id: ID!) { deleteComment(id: $id) { deletedId errors { field message code } } }
"""

COMMENTS = """
query Comments($slug: String!, $first: Int, $after: String) {
  article(slug: $slug) {
    comments(first: $first, after: $after) {
      totalCount
      nodes { body author { username } article { slug } }
      pageInfo { hasNextPage hasPreviousPage }
    }
  }
}
"""


async def comments(client: httpx.AsyncClient, slug: str, **variables: Any) -> Any:
    result = await gql(client, COMMENTS, {"slug": slug, **variables})
    assert "errors" not in result, result
    return result["data"]["article"]["comments"]


async def test_add_comment_returns_it_with_author_and_article(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice)
    payload = await add_comment_payload(client, bob, created["slug"], "Great read")
    comment_id = payload["comment"].pop("id")
    assert payload == {
        "comment": {
            "body": "Great read",
            "author": {"username": "bob"},
            "article": {"slug": created["slug"]},
        },
        "errors": [],
    }
    async with database(app).read_session() as session:
        row_id = await session.scalar(select(Comment.id))
    assert comment_id == to_global_id("Comment", row_id or 0)


async def test_comments_are_listed_oldest_first(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice)
    for number, token in enumerate((bob, alice, bob)):
        await add_comment(client, token, created["slug"], f"c{number}")
    assert await comments(client, created["slug"]) == {
        "totalCount": 3,
        "nodes": [
            {"body": "c0", "author": {"username": "bob"}, "article": {"slug": created["slug"]}},
            {"body": "c1", "author": {"username": "alice"}, "article": {"slug": created["slug"]}},
            {"body": "c2", "author": {"username": "bob"}, "article": {"slug": created["slug"]}},
        ],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False},
    }


async def test_comments_with_equal_times_are_ordered_by_id(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    for number in range(4):
        await add_comment(client, alice, created["slug"], f"c{number}")
    async with database(app).unit_of_work() as session:
        moment = await session.scalar(select(func.max(Comment.created_at)))
        await session.execute(update(Comment).values(created_at=moment))
    page = await comments(client, created["slug"], first=2)
    assert [node["body"] for node in page["nodes"]] == ["c0", "c1"]
    assert page["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False}
    result = await gql(
        client,
        "query($s: String!) { article(slug: $s) { comments(first: 2) { edges { cursor } } } }",
        {"s": created["slug"]},
    )
    cursor = result["data"]["article"]["comments"]["edges"][-1]["cursor"]
    rest = await comments(client, created["slug"], first=5, after=cursor)
    assert [node["body"] for node in rest["nodes"]] == ["c2", "c3"]
    assert rest["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


async def test_comments_are_per_article(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    one = await create_article(client, alice, title="One")
    two = await create_article(client, alice, title="Two")
    await add_comment(client, alice, one["slug"], "on one")
    await add_comment(client, alice, two["slug"], "on two")
    await add_comment(client, alice, one["slug"], "again on one")
    data = await gql(
        client,
        "{ articles { nodes { slug comments { totalCount nodes { body } } } } }",
    )
    assert data == {
        "data": {
            "articles": {
                "nodes": [
                    {"slug": "two", "comments": {"totalCount": 1, "nodes": [{"body": "on two"}]}},
                    {
                        "slug": "one",
                        "comments": {
                            "totalCount": 2,
                            "nodes": [{"body": "on one"}, {"body": "again on one"}],
                        },
                    },
                ]
            }
        }
    }


@pytest.mark.parametrize("blank", ["", " \n "])
async def test_blank_comment_is_invalid(app: FastAPI, client: httpx.AsyncClient, blank: str) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    payload = await add_comment_payload(client, alice, created["slug"], blank)
    assert payload == {
        "comment": None,
        "errors": [{"field": ["input", "body"], "message": "can't be blank", "code": "INVALID"}],
    }
    assert await count_rows(app, "comments") == 0


async def test_comment_over_16_kib_is_invalid(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    payload = await add_comment_payload(client, alice, created["slug"], "ж" * (16 * 1024 + 1))
    assert payload == {
        "comment": None,
        "errors": [
            {
                "field": ["input", "body"],
                "message": "is too long (maximum is 16384 characters)",
                "code": "INVALID",
            }
        ],
    }
    assert await count_rows(app, "comments") == 0
    assert (await add_comment_payload(client, alice, created["slug"], "ж" * 16 * 1024))["errors"] == []


async def test_comment_with_nul_character_is_invalid(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    payload = await add_comment_payload(client, alice, created["slug"], "a\x00")
    assert payload["errors"] == [
        {"field": ["input", "body"], "message": "must not contain NUL characters", "code": "INVALID"}
    ]


async def test_comment_on_missing_article_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    payload = await add_comment_payload(client, alice, "missing", "hello")
    assert payload == {
        "comment": None,
        "errors": [{"field": ["input", "articleSlug"], "message": "article not found", "code": "NOT_FOUND"}],
    }


async def test_add_comment_without_viewer_is_unauthenticated(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    payload = await add_comment_payload(client, None, created["slug"], "hello")
    assert payload == {
        "comment": None,
        "errors": [{"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}],
    }
    assert await count_rows(app, "comments") == 0


async def test_comment_author_can_delete_comment(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice)
    comment = await add_comment(client, bob, created["slug"], "mine")
    kept = await add_comment(client, alice, created["slug"], "kept")
    assert await mutate(client, DELETE_COMMENT, {"id": comment["id"]}, bob) == {
        "deletedId": comment["id"],
        "errors": [],
    }
    page = await comments(client, created["slug"])
    assert [node["body"] for node in page["nodes"]] == ["kept"]
    assert kept["id"] != comment["id"]
    assert await count_rows(app, "comments") == 1


async def test_non_author_cannot_delete_comment(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice)
    comment = await add_comment(client, bob, created["slug"], "bob's")
    # Not even the article's author may delete someone else's comment.
    assert await mutate(client, DELETE_COMMENT, {"id": comment["id"]}, alice) == {
        "deletedId": None,
        "errors": [{"field": [], "message": "only the author may delete this comment", "code": "FORBIDDEN"}],
    }
    assert (await comments(client, created["slug"]))["totalCount"] == 1
    assert await count_rows(app, "comments") == 1


async def test_delete_comment_without_viewer_is_unauthenticated(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    comment = await add_comment(client, alice, created["slug"])
    assert await mutate(client, DELETE_COMMENT, {"id": comment["id"]}, None) == {
        "deletedId": None,
        "errors": [{"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}],
    }
    assert await count_rows(app, "comments") == 1


async def test_delete_missing_or_wrongly_typed_comment_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    not_found = {
        "deletedId": None,
        "errors": [{"field": ["id"], "message": "comment not found", "code": "NOT_FOUND"}],
    }
    for global_id in (to_global_id("Comment", 999), created["id"], to_global_id("Comment", 0)):
        assert await mutate(client, DELETE_COMMENT, {"id": global_id}, alice) == not_found


async def test_delete_comment_with_undecodable_id_is_bad_user_input(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    result = await gql(client, DELETE_COMMENT, {"id": "%%% not base64 %%%"}, alice)
    assert result["data"] is None
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


async def test_comment_article_resolves_through_the_comment(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice, tagList=["t"])
    comment = await add_comment(client, alice, created["slug"], "x")
    result = await gql(
        client,
        "query($id: ID!) { node(id: $id) { ... on Comment { body article { title tagList author { username } } } } }",  # noqa: E501
        {"id": comment["id"]},
    )
    assert result == {
        "data": {
            "node": {
                "body": "x",
                "article": {"title": created["title"], "tagList": ["t"], "author": {"username": "alice"}},
            }
        }
    }
