"""Every mutation's payload returns every object it changed, with its `id`, as it is after the
change (issue 15): what a normalized client cache needs to update itself without a refetch.
tests/caches/ runs Apollo Client and urql graphcache against them; these tests prove the
server's side on both engines: the values in the payload are the ones a fresh read gives."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from graph.node import to_global_id
from tests.support.factories import add_comment, create_article, gql, mutate, user_id
from tests.support.gql import register

FOLLOW = """
mutation Follow($username: String!) {
  followUser(username: $username) {
    user { id following followersCount }
    viewer { id email user { id followingCount } }
    errors { code }
  }
}
"""

UNFOLLOW = FOLLOW.replace("followUser", "unfollowUser")

ME = "query { viewer { id email user { id followingCount articlesCount } } }"

ADD_COMMENT = """
mutation Add($input: AddCommentInput!) {
  addComment(input: $input) {
    comment { id }
    article { id commentsCount comments(first: 5) { totalCount } }
    errors { code }
  }
}
"""

DELETE_COMMENT = """
mutation Delete($id: ID!) {
  deleteComment(id: $id) {
    deletedId deletedIds
    author { id }
    article { id commentsCount comments { totalCount nodes { id } } }
    errors { code }
  }
}
"""

DELETE_ARTICLE = """
mutation Delete($slug: String!) {
  deleteArticle(slug: $slug) {
    deletedId deletedIds
    author { id articlesCount articles { totalCount } }
    article { id }
    errors { code }
  }
}
"""

UPDATE_VIEWER = """
mutation Update($input: UpdateViewerInput!) {
  updateViewer(input: $input) { viewer { id email } errors { code } }
}
"""

NODE = "query Node($id: ID!) { node(id: $id) { id ... on Viewer { email } } }"


async def test_follow_and_unfollow_return_the_viewer_with_its_following_count(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "fan")
    await register(client, "star")
    followed = await mutate(client, FOLLOW, {"username": "star"}, token)
    assert followed["user"]["following"] is True
    assert followed["user"]["followersCount"] == 1
    assert followed["viewer"]["user"]["followingCount"] == 1
    me = (await gql(client, ME, token=token))["data"]["viewer"]
    assert followed["viewer"]["id"] == me["id"]
    assert followed["viewer"]["user"]["id"] == me["user"]["id"]
    unfollowed = await mutate(client, UNFOLLOW, {"username": "star"}, token)
    assert unfollowed["viewer"]["user"]["followingCount"] == 0
    assert unfollowed["user"]["followersCount"] == 0


async def test_a_failed_follow_returns_no_viewer(client: httpx.AsyncClient) -> None:
    token = await register(client, "fan")
    payload = await mutate(client, FOLLOW, {"username": "fan"}, token)
    assert payload == {"user": None, "viewer": None, "errors": [{"code": "INVALID"}]}


async def test_the_viewer_id_is_its_own_and_the_node_of_that_viewer_alone(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await register(client, "ada")
    other = await register(client, "linus")
    me = (await gql(client, ME, token=token))["data"]["viewer"]
    pk = await user_id(app, "ada")
    assert me["id"] == to_global_id("Viewer", pk)
    assert me["user"]["id"] == to_global_id("User", pk)
    found = (await gql(client, NODE, {"id": me["id"]}, token))["data"]["node"]
    assert found == {"id": me["id"], "email": "ada@example.com"}
    assert (await gql(client, NODE, {"id": me["id"]}, other))["data"]["node"] is None
    assert (await gql(client, NODE, {"id": me["id"]}))["data"]["node"] is None


async def test_update_viewer_returns_the_same_viewer_id_with_the_new_email(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "ada")
    me = (await gql(client, ME, token=token))["data"]["viewer"]
    payload = await mutate(client, UPDATE_VIEWER, {"input": {"email": "ada@new.example"}}, token)
    assert payload["viewer"] == {"id": me["id"], "email": "ada@new.example"}


async def test_add_comment_returns_the_article_with_its_new_counts(client: httpx.AsyncClient) -> None:
    token = await register(client, "ada")
    article = await create_article(client, token)
    await add_comment(client, token, article["slug"])
    variables = {"input": {"articleSlug": article["slug"], "body": "second"}}
    payload = await mutate(client, ADD_COMMENT, variables, token)
    assert payload["article"] == {"id": article["id"], "commentsCount": 2, "comments": {"totalCount": 2}}


async def test_delete_comment_returns_its_id_and_the_article_as_it_is_now(client: httpx.AsyncClient) -> None:
    token = await register(client, "ada")
    article = await create_article(client, token)
    first = await add_comment(client, token, article["slug"], "first")
    second = await add_comment(client, token, article["slug"], "second")
    payload = await mutate(client, DELETE_COMMENT, {"id": first["id"]}, token)
    assert payload == {
        "deletedId": first["id"],
        "deletedIds": [first["id"]],
        "author": None,
        "article": {
            "id": article["id"],
            "commentsCount": 1,
            "comments": {"totalCount": 1, "nodes": [{"id": second["id"]}]},
        },
        "errors": [],
    }


async def test_delete_article_returns_it_with_its_comments_and_the_author_as_now(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "ada")
    reader = await register(client, "linus")
    await create_article(client, token, title="Kept")
    gone = await create_article(client, token, title="Gone")
    comments = [
        await add_comment(client, who, gone["slug"], body) for who, body in [(reader, "a"), (token, "b")]
    ]
    payload = await mutate(client, DELETE_ARTICLE, {"slug": gone["slug"]}, token)
    me = (await gql(client, ME, token=token))["data"]["viewer"]
    assert payload == {
        "deletedId": gone["id"],
        "deletedIds": [gone["id"], *(c["id"] for c in comments)],
        "author": {"id": me["user"]["id"], "articlesCount": 1, "articles": {"totalCount": 1}},
        "article": None,
        "errors": [],
    }
    assert me["user"]["articlesCount"] == 1


async def test_a_refused_deletion_returns_nothing_removed(client: httpx.AsyncClient) -> None:
    token = await register(client, "ada")
    other = await register(client, "linus")
    article = await create_article(client, token)
    payload = await mutate(client, DELETE_ARTICLE, {"slug": article["slug"]}, other)
    assert payload == {
        "deletedId": None,
        "deletedIds": [],
        "author": None,
        "article": None,
        "errors": [{"code": "FORBIDDEN"}],
    }


FAVORITE = """
mutation Favorite($slug: String!) {
  favoriteArticle(slug: $slug) {
    article { id favorited favoritesCount }
    viewer { id user { id favorites { totalCount nodes { id } } } }
    errors { code }
  }
}
"""


async def test_favorite_returns_the_viewer_whose_favorites_changed(client: httpx.AsyncClient) -> None:
    token = await register(client, "ada")
    article = await create_article(client, token)
    payload = await mutate(client, FAVORITE, {"slug": article["slug"]}, token)
    me = (await gql(client, ME, token=token))["data"]["viewer"]
    assert payload["article"] == {"id": article["id"], "favorited": True, "favoritesCount": 1}
    assert payload["viewer"] == {
        "id": me["id"],
        "user": {"id": me["user"]["id"], "favorites": {"totalCount": 1, "nodes": [{"id": article["id"]}]}},
    }
    missing = await mutate(client, FAVORITE, {"slug": "no-such-article"}, token)
    assert missing == {"article": None, "viewer": None, "errors": [{"code": "NOT_FOUND"}]}
