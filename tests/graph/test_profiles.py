"""Profiles: user(username), follows and the per-user connections."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.factories import (
    FOLLOW,
    UNFOLLOW,
    count_rows,
    create_article,
    favorite,
    follow,
    gql,
    mutate,
)
from tests.support.gql import register

PROFILE = """
query Profile($username: String!) {
  user(username: $username) {
    username bio image following followersCount followingCount
    articles { totalCount nodes { slug } }
    favorites { totalCount nodes { slug } }
  }
}
"""


async def profile(client: httpx.AsyncClient, username: str, token: str | None = None) -> Any:
    result = await gql(client, PROFILE, {"username": username}, token)
    assert "errors" not in result, result
    return result["data"]["user"]


async def test_unknown_user_is_null(client: httpx.AsyncClient) -> None:
    assert await profile(client, "nobody") is None


async def test_profile_shows_counts_articles_and_favorites(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    carol = await register(client, "carol")
    await create_article(client, alice, title="A1")
    await create_article(client, alice, title="A2")
    await create_article(client, bob, title="B1")
    await favorite(client, alice, "b1")
    await favorite(client, alice, "a1")
    await follow(client, bob, "alice")
    await follow(client, carol, "alice")
    await follow(client, alice, "carol")
    assert await profile(client, "ALICE", bob) == {
        "username": "alice",
        "bio": None,
        "image": None,
        "following": True,
        "followersCount": 2,
        "followingCount": 1,
        "articles": {"totalCount": 2, "nodes": [{"slug": "a2"}, {"slug": "a1"}]},
        # Most recently favorited first, whatever the articles' own ages.
        "favorites": {"totalCount": 2, "nodes": [{"slug": "a1"}, {"slug": "b1"}]},
    }
    assert (await profile(client, "alice"))["following"] is False
    assert (await profile(client, "alice", alice))["following"] is False
    assert await profile(client, "bob") == {
        "username": "bob",
        "bio": None,
        "image": None,
        "following": False,
        "followersCount": 0,
        "followingCount": 1,
        "articles": {"totalCount": 1, "nodes": [{"slug": "b1"}]},
        "favorites": {"totalCount": 0, "nodes": []},
    }


async def test_follow_and_unfollow_are_idempotent(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    bob = await register(client, "bob")
    followed = {"user": {"username": "alice", "following": True, "followersCount": 1}, "errors": []}
    assert await mutate(client, FOLLOW, {"username": "alice"}, bob) == followed
    assert await mutate(client, FOLLOW, {"username": "Alice"}, bob) == followed
    assert await count_rows(app, "follows") == 1
    unfollowed = {"user": {"username": "alice", "following": False, "followersCount": 0}, "errors": []}
    assert await mutate(client, UNFOLLOW, {"username": "alice"}, bob) == unfollowed
    assert await mutate(client, UNFOLLOW, {"username": "alice"}, bob) == unfollowed
    assert await count_rows(app, "follows") == 0


async def test_following_yourself_is_invalid(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    assert await mutate(client, FOLLOW, {"username": "ALICE"}, alice) == {
        "user": None,
        "errors": [{"field": ["username"], "message": "you cannot follow yourself", "code": "INVALID"}],
    }
    assert await count_rows(app, "follows") == 0


async def test_follow_unknown_user_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    for mutation in (FOLLOW, UNFOLLOW):
        assert await mutate(client, mutation, {"username": "nobody"}, alice) == {
            "user": None,
            "errors": [{"field": ["username"], "message": "user not found", "code": "NOT_FOUND"}],
        }


async def test_follow_without_viewer_is_unauthenticated(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    for mutation in (FOLLOW, UNFOLLOW):
        assert await mutate(client, mutation, {"username": "alice"}, None) == {
            "user": None,
            "errors": [
                {"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}
            ],
        }
    assert await count_rows(app, "follows") == 0


async def test_profile_connections_page_with_first_and_after(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    for number in range(5):
        await create_article(client, alice, title=f"P{number}")
        await favorite(client, alice, f"p{number}")
    query = """
    query($after: String) {
      user(username: "alice") {
        articles(first: 2, after: $after) {
          nodes { slug } pageInfo { hasNextPage hasPreviousPage endCursor }
        }
        favorites(first: 3, after: $after) { nodes { slug } pageInfo { hasNextPage hasPreviousPage } }
      }
    }
    """
    first = (await gql(client, query))["data"]["user"]
    assert [n["slug"] for n in first["articles"]["nodes"]] == ["p4", "p3"]
    assert [n["slug"] for n in first["favorites"]["nodes"]] == ["p4", "p3", "p2"]
    articles_query = """
    query($after: String) {
      user(username: "alice") {
        articles(first: 2, after: $after) { nodes { slug } pageInfo { hasNextPage } }
      }
    }
    """
    second = await gql(client, articles_query, {"after": first["articles"]["pageInfo"]["endCursor"]})
    assert second == {
        "data": {
            "user": {
                "articles": {"nodes": [{"slug": "p2"}, {"slug": "p1"}], "pageInfo": {"hasNextPage": True}}
            }
        }
    }
    favorites_query = """
    query($after: String) {
      user(username: "alice") {
        favorites(first: 3) { edges { cursor } }
        more: favorites(first: 3, after: $after) { nodes { slug } pageInfo { hasNextPage hasPreviousPage } }
      }
    }
    """
    edges = (await gql(client, favorites_query))["data"]["user"]["favorites"]["edges"]
    rest = await gql(client, favorites_query, {"after": edges[-1]["cursor"]})
    assert rest["data"]["user"]["more"] == {
        "nodes": [{"slug": "p1"}, {"slug": "p0"}],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": True},
    }
