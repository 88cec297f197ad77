"""Relay Global Object Identification: node and nodes."""

from __future__ import annotations

import base64

import httpx
import pytest

from graph.node import to_global_id
from tests.support.factories import add_comment, create_article, gql
from tests.support.gql import register

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on User { username }
    ... on Article { slug }
    ... on Comment { body }
  }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) { __typename id ... on User { username } ... on Article { slug } ... on Comment { body } }
}
"""


def raw_id(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_node_fetches_user_article_and_comment(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    user_id = (await gql(client, "{ viewer { user { id } } }", token=token))["data"]["viewer"]["user"]["id"]
    article = await create_article(client, token)
    comment = await add_comment(client, token, article["slug"], "hi")
    assert await gql(client, NODE, {"id": user_id}) == {
        "data": {"node": {"__typename": "User", "id": user_id, "username": "alice"}}
    }
    assert await gql(client, NODE, {"id": article["id"]}) == {
        "data": {"node": {"__typename": "Article", "id": article["id"], "slug": article["slug"]}}
    }
    assert await gql(client, NODE, {"id": comment["id"]}) == {
        "data": {"node": {"__typename": "Comment", "id": comment["id"], "body": "hi"}}
    }


@pytest.mark.parametrize(
    "global_id",
    [
        to_global_id("User", 999),
        to_global_id("Article", 999),
        to_global_id("Comment", 999),
        to_global_id("Tag", 1),
        raw_id("User:abc"),
        raw_id("User:-1"),
        raw_id("User"),
        raw_id("User:1:2"),
        raw_id("User:" + "9" * 30),
        raw_id(""),
    ],
)
async def test_node_is_null_for_missing_or_decodable_but_wrong_ids(
    client: httpx.AsyncClient, global_id: str
) -> None:
    await register(client, "alice")
    assert await gql(client, NODE, {"id": global_id}) == {"data": {"node": None}}


@pytest.mark.parametrize(
    "global_id", ["not base64!", "%%%", "VXNlcjox=extra", base64.b64encode(b"\xff\xfe").decode()]
)
async def test_node_with_undecodable_id_is_bad_user_input(client: httpx.AsyncClient, global_id: str) -> None:
    result = await gql(client, NODE, {"id": global_id})
    assert result["data"] == {"node": None}
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


async def test_nodes_keeps_order_with_nulls_for_missing(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    article = await create_article(client, token)
    comment = await add_comment(client, token, article["slug"], "hi")
    ids = [comment["id"], to_global_id("Article", 999), article["id"], raw_id("Nope:1"), comment["id"]]
    assert await gql(client, NODES, {"ids": ids}) == {
        "data": {
            "nodes": [
                {"__typename": "Comment", "id": comment["id"], "body": "hi"},
                None,
                {"__typename": "Article", "id": article["id"], "slug": article["slug"]},
                None,
                {"__typename": "Comment", "id": comment["id"], "body": "hi"},
            ]
        }
    }


async def test_nodes_with_an_undecodable_id_is_bad_user_input(client: httpx.AsyncClient) -> None:
    result = await gql(client, NODES, {"ids": [to_global_id("User", 1), "not base64!"]})
    assert result["data"] is None
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


async def test_node_of_a_deleted_article_is_null(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    article = await create_article(client, token)
    comment = await add_comment(client, token, article["slug"])
    deleted = await gql(
        client,
        "mutation($s: String!) { deleteArticle(slug: $s) { errors { code } } }",
        {"s": article["slug"]},
        token,
    )
    assert deleted == {"data": {"deleteArticle": {"errors": []}}}
    result = await gql(client, NODES, {"ids": [article["id"], comment["id"]]})
    assert result == {"data": {"nodes": [None, None]}}
