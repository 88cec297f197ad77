"""Articles: create, update, delete, favorites, slugs, tags, filters, the feed, and bounds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from db.models import Article
from graph.node import to_global_id
from tests.support.factories import (
    FAVORITE,
    UNFAVORITE,
    add_comment,
    count_rows,
    create_article,
    create_article_payload,
    database,
    favorite,
    follow,
    gql,
    mutate,
    update_article_payload,
)
from tests.support.gql import register

DELETE_ARTICLE = """
mutation Delete($slug: String!) { deleteArticle(slug: $slug) { deletedId errors { field message code } } }
"""

ARTICLE = """
query Article($slug: String!) {
  article(slug: $slug) { slug title description body tagList favorited favoritesCount author { username } }
}
"""


def invalid(*field: str, message: str) -> dict[str, Any]:
    return {"field": ["input", *field], "message": message, "code": "INVALID"}


async def article(client: httpx.AsyncClient, slug: str, token: str | None = None) -> Any:
    result = await gql(client, ARTICLE, {"slug": slug}, token)
    assert "errors" not in result, result
    return result["data"]["article"]


async def slugs(client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any) -> Any:
    result = await gql(client, query, variables, token)
    assert "errors" not in result, result
    return result["data"]


# --- create -----------------------------------------------------------------------------


async def test_create_article_returns_it(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["dragons", "training"])
    assert created["createdAt"] == created["updatedAt"]
    assert {k: v for k, v in created.items() if k not in ("createdAt", "updatedAt")} == {
        "id": created["id"],
        "slug": "how-to-train-your-dragon",
        "title": "How to train your dragon",
        "description": "Ever wonder how?",
        "body": "You have to believe",
        "tagList": ["dragons", "training"],
        "favorited": False,
        "favoritesCount": 0,
        "author": {"username": "alice"},
    }
    assert await article(client, "how-to-train-your-dragon") == {
        "slug": "how-to-train-your-dragon",
        "title": "How to train your dragon",
        "description": "Ever wonder how?",
        "body": "You have to believe",
        "tagList": ["dragons", "training"],
        "favorited": False,
        "favoritesCount": 0,
        "author": {"username": "alice"},
    }


@pytest.mark.parametrize("field", ["title", "description", "body"])
@pytest.mark.parametrize("blank", ["", "  \n\t"])
async def test_create_article_blank_required_field_is_invalid(
    app: FastAPI, client: httpx.AsyncClient, field: str, blank: str
) -> None:
    token = await register(client, "alice")
    payload = await create_article_payload(client, token, **{field: blank})
    assert payload == {"article": None, "errors": [invalid(field, message="can't be blank")]}
    assert await count_rows(app, "articles") == 0


async def test_create_article_without_viewer_is_unauthenticated(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    payload = await create_article_payload(client, None)
    assert payload == {
        "article": None,
        "errors": [{"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}],
    }
    assert await count_rows(app, "articles") == 0


async def test_tag_list_keeps_order_and_drops_duplicates_and_blanks(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(
        client, token, tagList=["zeta", "alpha", "", "zeta", "  ", "mu", " alpha "]
    )
    assert created["tagList"] == ["zeta", "alpha", "mu"]
    assert (await article(client, created["slug"]))["tagList"] == ["zeta", "alpha", "mu"]


async def test_tag_list_order_is_per_article(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    one = await create_article(client, token, title="One", tagList=["a", "b", "c"])
    two = await create_article(client, token, title="Two", tagList=["c", "b", "a"])
    assert (await article(client, one["slug"]))["tagList"] == ["a", "b", "c"]
    assert (await article(client, two["slug"]))["tagList"] == ["c", "b", "a"]


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("How to train your dragon", "how-to-train-your-dragon"),
        ("  Hello,   World!  ", "hello-world"),
        ("Crème brûlée à Paris", "crème-brûlée-à-paris"),
        ("Привет мир", "привет-мир"),
        ("東京 2026", "東京-2026"),
        ("!!!", "article"),
    ],
)
async def test_slug_derives_from_the_title_unicode_aware(
    client: httpx.AsyncClient, title: str, slug: str
) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, title=title)
    assert created["slug"] == slug
    assert (await article(client, slug))["slug"] == slug


async def test_slug_is_unique_with_a_suffix(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    first = await create_article(client, alice, title="Same title")
    second = await create_article(client, bob, title="Same Title")
    third = await create_article(client, alice, title="same title!")
    assert [first["slug"], second["slug"], third["slug"]] == ["same-title", "same-title-2", "same-title-3"]


async def test_slug_suffix_ignores_longer_slugs_with_the_same_start(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    await create_article(client, token, title="Dragons of old")
    created = await create_article(client, token, title="Dragons")
    assert created["slug"] == "dragons"


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "limit"), [("title", 255), ("description", 1024), ("body", 64 * 1024)])
async def test_article_input_over_its_bound_is_invalid_and_at_it_accepted(
    app: FastAPI, client: httpx.AsyncClient, field: str, limit: int
) -> None:
    token = await register(client, "alice")
    payload = await create_article_payload(client, token, **{field: "é" * (limit + 1)})
    assert payload == {
        "article": None,
        "errors": [invalid(field, message=f"is too long (maximum is {limit} characters)")],
    }
    assert await count_rows(app, "articles") == 0
    assert (await create_article_payload(client, token, **{field: "é" * limit}))["errors"] == []


async def test_more_than_20_tags_is_invalid(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await create_article_payload(client, token, tagList=[f"t{i}" for i in range(21)])
    assert payload == {
        "article": None,
        "errors": [invalid("tagList", message="has too many tags (maximum is 20)")],
    }
    accepted = await create_article_payload(client, token, tagList=[f"t{i}" for i in range(20)])
    assert accepted["errors"] == [] and len(accepted["article"]["tagList"]) == 20
    assert await count_rows(app, "articles") == 1


async def test_many_duplicate_tags_count_once(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["same"] * 50)
    assert created["tagList"] == ["same"]


async def test_tag_longer_than_64_characters_is_invalid(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await create_article_payload(client, token, tagList=["ok", "t" * 65])
    assert payload == {
        "article": None,
        "errors": [invalid("tagList", "1", message="is too long (maximum is 64 characters)")],
    }
    assert (await create_article_payload(client, token, tagList=["t" * 64]))["errors"] == []


@pytest.mark.parametrize("field", ["title", "description", "body"])
async def test_nul_character_in_article_is_invalid(
    app: FastAPI, client: httpx.AsyncClient, field: str
) -> None:
    token = await register(client, "alice")
    payload = await create_article_payload(client, token, **{field: "a\x00b"})
    assert payload == {"article": None, "errors": [invalid(field, message="must not contain NUL characters")]}
    assert await count_rows(app, "articles") == 0


async def test_nul_character_in_tag_is_invalid(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await create_article_payload(client, token, tagList=["a\x00b"])
    assert payload["errors"] == [invalid("tagList", "0", message="must not contain NUL characters")]
    assert await count_rows(app, "articles") == 0


async def test_nul_character_in_lookups_finds_nothing(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    await create_article(client, token)
    result = await gql(
        client,
        """query($s: String!) {
          article(slug: $s) { slug }
          user(username: $s) { username }
          articles(filter: {tag: $s, author: $s, favoritedBy: $s}) { totalCount nodes { slug } }
        }""",
        {"s": "a\x00b"},
    )
    assert result == {"data": {"article": None, "user": None, "articles": {"totalCount": 0, "nodes": []}}}


# --- update -----------------------------------------------------------------------------


async def test_update_article_changes_given_fields_and_keeps_the_rest(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["a", "b"])
    payload = await update_article_payload(client, token, slug=created["slug"], body="New body")
    updated = payload["article"]
    assert payload["errors"] == []
    assert updated["updatedAt"] > created["updatedAt"]
    assert {**updated, "updatedAt": None} == {**created, "body": "New body", "updatedAt": None}


async def test_slug_changes_when_the_title_changes(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    await create_article(client, token, title="Taken title")
    payload = await update_article_payload(client, token, slug=created["slug"], title="A new title")
    assert payload["article"]["slug"] == "a-new-title"
    assert await article(client, created["slug"]) is None
    assert (await article(client, "a-new-title"))["title"] == "A new title"
    payload = await update_article_payload(client, token, slug="a-new-title", title="Taken Title")
    assert payload["article"]["slug"] == "taken-title-2"


async def test_slug_stays_when_the_title_is_kept(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    await create_article(client, token, title="Twin")
    second = await create_article(client, token, title="Twin")
    assert second["slug"] == "twin-2"
    payload = await update_article_payload(client, token, slug="twin-2", title="Twin", body="changed")
    assert payload["article"]["slug"] == "twin-2"


async def test_update_without_tag_list_keeps_tags(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["x", "y"])
    payload = await update_article_payload(client, token, slug=created["slug"], title="Other")
    assert payload["article"]["tagList"] == ["x", "y"]
    assert (await article(client, "other"))["tagList"] == ["x", "y"]


async def test_update_with_empty_tag_list_removes_tags(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["x", "y"])
    payload = await update_article_payload(client, token, slug=created["slug"], tagList=[])
    assert payload["article"]["tagList"] == []
    assert await count_rows(app, "article_tags") == 0


async def test_update_with_new_tag_list_replaces_tags_in_order(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["x", "y"])
    payload = await update_article_payload(client, token, slug=created["slug"], tagList=["z", "y", "z", ""])
    assert payload["article"]["tagList"] == ["z", "y"]


@pytest.mark.parametrize("field", ["tagList", "title", "description", "body"])
async def test_update_with_null_is_invalid(client: httpx.AsyncClient, field: str) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token, tagList=["x"])
    payload = await update_article_payload(client, token, slug=created["slug"], **{field: None})
    assert payload == {"article": None, "errors": [invalid(field, message="can't be null")]}
    assert await article(client, created["slug"]) == {
        "slug": created["slug"],
        "title": created["title"],
        "description": created["description"],
        "body": created["body"],
        "tagList": ["x"],
        "favorited": False,
        "favoritesCount": 0,
        "author": {"username": "alice"},
    }


@pytest.mark.parametrize("field", ["title", "description", "body"])
async def test_update_with_blank_is_invalid(client: httpx.AsyncClient, field: str) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    payload = await update_article_payload(client, token, slug=created["slug"], **{field: " "})
    assert payload == {"article": None, "errors": [invalid(field, message="can't be blank")]}


async def test_update_over_bound_is_invalid(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    payload = await update_article_payload(client, token, slug=created["slug"], title="t" * 256)
    assert payload["errors"] == [invalid("title", message="is too long (maximum is 255 characters)")]


async def test_update_with_current_expected_updated_at_succeeds(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    payload = await update_article_payload(
        client, token, slug=created["slug"], body="v2", expectedUpdatedAt=created["updatedAt"]
    )
    assert payload["errors"] == [] and payload["article"]["body"] == "v2"


async def test_update_with_stale_expected_updated_at_is_conflict(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    first = await update_article_payload(
        client, token, slug=created["slug"], body="v2", expectedUpdatedAt=created["updatedAt"]
    )
    assert first["errors"] == []
    second = await update_article_payload(
        client, token, slug=created["slug"], body="v3", expectedUpdatedAt=created["updatedAt"]
    )
    assert second == {
        "article": None,
        "errors": [
            {
                "field": ["input", "expectedUpdatedAt"],
                "message": "the article changed since you read it",
                "code": "CONFLICT",
            }
        ],
    }
    assert (await article(client, created["slug"]))["body"] == "v2"


async def test_non_author_cannot_update_article(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice, tagList=["x"])
    before = await article(client, created["slug"])
    payload = await update_article_payload(client, bob, slug=created["slug"], title="Mine now", tagList=[])
    assert payload == {
        "article": None,
        "errors": [{"field": [], "message": "only the author may change this article", "code": "FORBIDDEN"}],
    }
    assert await article(client, created["slug"]) == before


async def test_update_article_without_viewer_is_unauthenticated(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    payload = await update_article_payload(client, None, slug=created["slug"], title="x")
    assert payload["errors"] == [
        {"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}
    ]


async def test_update_missing_article_is_not_found(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await update_article_payload(client, token, slug="nope", title="x")
    assert payload == {
        "article": None,
        "errors": [{"field": ["input", "slug"], "message": "article not found", "code": "NOT_FOUND"}],
    }


# --- slug history: a former slug stays its article's ---------------------------------------

NOT_FOUND = {"field": ["input", "slug"], "message": "article not found", "code": "NOT_FOUND"}
CONFLICT = {
    "field": ["input", "expectedUpdatedAt"],
    "message": "the article changed since you read it",
    "code": "CONFLICT",
}


async def test_a_slug_that_never_existed_sent_with_a_version_is_not_found(client: httpx.AsyncClient) -> None:
    """Even when one of the editor's articles changed since that version: a slug is looked up
    in the history, not guessed from what changed."""
    token = await register(client, "alice")
    read = await create_article(client, token)
    changed = await update_article_payload(client, token, slug=read["slug"], body="changed")
    assert changed["errors"] == []
    payload = await update_article_payload(
        client, token, slug="never-was", title="x", expectedUpdatedAt=read["updatedAt"]
    )
    assert payload == {"article": None, "errors": [NOT_FOUND]}


async def test_a_former_slug_sent_with_a_version_is_conflict_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    """Also with the version of the article as it is now: that read showed the new slug, so
    naming the old one is out of date too. Without a version the old slug is NOT_FOUND."""
    token = await register(client, "alice")
    read = await create_article(client, token, title="Dragons")
    renamed = (await update_article_payload(client, token, slug="dragons", title="Wyverns"))["article"]
    for version in (read["updatedAt"], renamed["updatedAt"]):
        payload = await update_article_payload(
            client, token, slug="dragons", body="stale", expectedUpdatedAt=version
        )
        assert payload == {"article": None, "errors": [CONFLICT]}
    blind = await update_article_payload(client, token, slug="dragons", body="blind")
    assert blind == {"article": None, "errors": [NOT_FOUND]}
    assert await article(client, "dragons") is None
    assert (await article(client, "wyverns"))["body"] == renamed["body"] == read["body"]


async def test_another_authors_former_slug_sent_with_a_version_is_forbidden(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    read = await create_article(client, alice, title="Dragons")
    await update_article_payload(client, alice, slug="dragons", title="Wyverns")
    payload = await update_article_payload(
        client, bob, slug="dragons", body="mine", expectedUpdatedAt=read["updatedAt"]
    )
    assert payload == {
        "article": None,
        "errors": [{"field": [], "message": "only the author may change this article", "code": "FORBIDDEN"}],
    }


async def test_a_former_slug_is_not_taken_by_another_article_but_comes_back_to_its_own(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await register(client, "alice")
    first = await create_article(client, token, title="Dragons")
    await update_article_payload(client, token, slug="dragons", title="Wyverns")
    second = await create_article(client, token, title="Dragons")
    assert second["slug"] == "dragons-2"
    third = await create_article(client, token, title="Drakes")
    renamed = await update_article_payload(client, token, slug=third["slug"], title="Wyverns")
    assert renamed["article"]["slug"] == "wyverns-2"
    back = await update_article_payload(client, token, slug="wyverns", title="DRAGONS")
    assert back["article"] == {**first, "title": "DRAGONS", "updatedAt": back["article"]["updatedAt"]}
    # Each slug once: dragons, wyverns (the first); dragons-2 (the second); drakes, wyverns-2.
    assert await count_rows(app, "article_slugs") == 5


async def test_deleting_an_article_frees_all_its_slugs(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    doomed = await create_article(client, token, title="Dragons")
    await update_article_payload(client, token, slug="dragons", title="Wyverns")
    kept = await create_article(client, token, title="Kept")
    payload = await mutate(client, DELETE_ARTICLE, {"slug": "wyverns"}, token)
    assert payload == {"deletedId": doomed["id"], "errors": []}
    assert await count_rows(app, "article_slugs") == 1
    assert [(await create_article(client, token, title=t))["slug"] for t in ("Dragons", "Wyverns")] == [
        "dragons",
        "wyverns",
    ]
    assert (await article(client, kept["slug"]))["title"] == "Kept"


# --- delete -----------------------------------------------------------------------------


async def test_delete_article_removes_its_comments_tag_links_and_favorites(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    doomed = await create_article(client, alice, title="Doomed", tagList=["a", "b"])
    kept = await create_article(client, alice, title="Kept", tagList=["b"])
    for slug in (doomed["slug"], kept["slug"]):
        await add_comment(client, bob, slug)
        await favorite(client, bob, slug)
    assert [await count_rows(app, t) for t in ("comments", "article_tags", "favorites")] == [2, 3, 2]
    payload = await mutate(client, DELETE_ARTICLE, {"slug": doomed["slug"]}, alice)
    assert payload == {"deletedId": doomed["id"], "errors": []}
    assert await article(client, doomed["slug"]) is None
    assert [await count_rows(app, t) for t in ("articles", "comments", "article_tags", "favorites")] == [
        1,
        1,
        1,
        1,
    ]
    result = await gql(
        client, '{ tags { name articleCount } user(username: "bob") { favorites { totalCount } } }'
    )
    assert result == {
        "data": {"tags": [{"name": "b", "articleCount": 1}], "user": {"favorites": {"totalCount": 1}}}
    }


async def test_non_author_cannot_delete_article(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice, tagList=["x"])
    payload = await mutate(client, DELETE_ARTICLE, {"slug": created["slug"]}, bob)
    assert payload == {
        "deletedId": None,
        "errors": [{"field": [], "message": "only the author may change this article", "code": "FORBIDDEN"}],
    }
    assert (await article(client, created["slug"]))["tagList"] == ["x"]
    assert await count_rows(app, "articles") == 1


async def test_delete_article_without_viewer_is_unauthenticated(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    payload = await mutate(client, DELETE_ARTICLE, {"slug": created["slug"]}, None)
    assert payload["errors"] == [
        {"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}
    ]
    assert await count_rows(app, "articles") == 1


async def test_delete_missing_article_is_not_found(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await mutate(client, DELETE_ARTICLE, {"slug": "nope"}, token)
    assert payload == {
        "deletedId": None,
        "errors": [{"field": ["slug"], "message": "article not found", "code": "NOT_FOUND"}],
    }


# --- favorites --------------------------------------------------------------------------


async def test_favorite_and_unfavorite_are_idempotent(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice)
    slug = created["slug"]
    favorited = {"article": {"slug": slug, "favorited": True, "favoritesCount": 1}, "errors": []}
    assert await mutate(client, FAVORITE, {"slug": slug}, bob) == favorited
    assert await mutate(client, FAVORITE, {"slug": slug}, bob) == favorited
    assert await count_rows(app, "favorites") == 1
    assert (await article(client, slug, bob))["favorited"] is True
    assert (await article(client, slug, alice))["favorited"] is False
    unfavorited = {"article": {"slug": slug, "favorited": False, "favoritesCount": 0}, "errors": []}
    assert await mutate(client, UNFAVORITE, {"slug": slug}, bob) == unfavorited
    assert await mutate(client, UNFAVORITE, {"slug": slug}, bob) == unfavorited
    assert await count_rows(app, "favorites") == 0


async def test_favorites_count_counts_every_user(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    created = await create_article(client, alice)
    for name in ("bob", "carol", "dave"):
        await favorite(client, await register(client, name), created["slug"])
    await favorite(client, alice, created["slug"])
    assert (await article(client, created["slug"]))["favoritesCount"] == 4
    assert (await article(client, created["slug"]))["favorited"] is False


EVERY_WAY_TO_AN_ARTICLE = """
query($slug: String!) {
  article(slug: $slug) { slug favoritesCount }
  articles { nodes { slug favoritesCount } }
  user(username: "bob") {
    favorites { nodes { slug favoritesCount } }
    articles { nodes { slug favoritesCount } }
  }
  viewer { feed { nodes { slug favoritesCount } } }
}
"""


async def test_favorites_count_is_the_same_wherever_the_article_is_read(client: httpx.AsyncClient) -> None:
    """Read with the article in every list, even in the list of what a user favorited, whose
    statement reads the favorites table itself."""
    alice = await register(client, "alice")
    tokens = {name: await register(client, name) for name in ("bob", "carol", "dave")}
    popular = await create_article(client, alice, title="Popular")
    quiet = await create_article(client, tokens["bob"], title="Quiet")
    for token in tokens.values():
        await favorite(client, token, popular["slug"])
    await favorite(client, tokens["bob"], quiet["slug"])
    await follow(client, alice, "bob")
    data = (await gql(client, EVERY_WAY_TO_AN_ARTICLE, {"slug": popular["slug"]}, token=alice))["data"]
    counts = {popular["slug"]: 3, quiet["slug"]: 1}
    lists = [
        [data["article"]],
        data["articles"]["nodes"],
        data["user"]["favorites"]["nodes"],
        data["user"]["articles"]["nodes"],
        data["viewer"]["feed"]["nodes"],
    ]
    assert [len(nodes) for nodes in lists] == [1, 2, 2, 1, 1]
    for nodes in lists:
        assert all(node["favoritesCount"] == counts[node["slug"]] for node in nodes), nodes


@pytest.mark.parametrize("mutation", [FAVORITE, UNFAVORITE])
async def test_favorite_needs_a_viewer_and_an_article(client: httpx.AsyncClient, mutation: str) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    assert await mutate(client, mutation, {"slug": created["slug"]}, None) == {
        "article": None,
        "errors": [{"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}],
    }
    assert await mutate(client, mutation, {"slug": "missing"}, token) == {
        "article": None,
        "errors": [{"field": ["slug"], "message": "article not found", "code": "NOT_FOUND"}],
    }


# --- lists, filters, feed, tags ---------------------------------------------------------

LIST = """
query List($filter: ArticleFilter, $first: Int) {
  articles(filter: $filter, first: $first) { totalCount nodes { slug } }
}
"""


async def listed(client: httpx.AsyncClient, token: str | None = None, **filter: str) -> tuple[int, list[str]]:
    data = await slugs(client, LIST, token, filter=filter or None)
    connection = data["articles"]
    return connection["totalCount"], [node["slug"] for node in connection["nodes"]]


async def test_articles_are_listed_newest_first(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    for title in ("One", "Two", "Three"):
        await create_article(client, token, title=title)
    assert await listed(client) == (3, ["three", "two", "one"])


async def test_articles_with_equal_times_are_ordered_by_id(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    for title in ("One", "Two", "Three", "Four"):
        await create_article(client, token, title=title)
    async with database(app).unit_of_work() as session:
        moment = await session.scalar(select(func.min(Article.created_at)))
        await session.execute(update(Article).values(created_at=moment))
    assert await listed(client) == (4, ["four", "three", "two", "one"])


async def test_articles_filter_by_tag_author_and_favorited_by_combine(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    carol = await register(client, "carol")
    await create_article(client, alice, title="A1", tagList=["dragons"])
    await create_article(client, alice, title="A2", tagList=["cats"])
    await create_article(client, bob, title="B1", tagList=["dragons", "cats"])
    await create_article(client, bob, title="B2")
    for slug in ("a1", "b1", "b2"):
        await favorite(client, carol, slug)
    assert await listed(client, tag="dragons") == (2, ["b1", "a1"])
    assert await listed(client, author="alice") == (2, ["a2", "a1"])
    assert await listed(client, author="ALICE") == (2, ["a2", "a1"])
    assert await listed(client, favoritedBy="carol") == (3, ["b2", "b1", "a1"])
    assert await listed(client, tag="dragons", author="bob") == (1, ["b1"])
    assert await listed(client, tag="cats", favoritedBy="carol") == (1, ["b1"])
    assert await listed(client, author="alice", favoritedBy="carol") == (1, ["a1"])
    assert await listed(client, tag="dragons", author="alice", favoritedBy="carol") == (1, ["a1"])
    assert await listed(client, tag="nothing") == (0, [])
    assert await listed(client, author="nobody") == (0, [])
    assert await listed(client, favoritedBy="alice") == (0, [])


async def test_articles_total_count_is_the_whole_list(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    for number in range(5):
        await create_article(client, token, title=f"T{number}")
    data = await slugs(client, LIST, first=2)
    assert data["articles"] == {"totalCount": 5, "nodes": [{"slug": "t4"}, {"slug": "t3"}]}


async def test_articles_show_the_viewers_favorited_and_following(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    await create_article(client, alice, title="A")
    await create_article(client, bob, title="B")
    await favorite(client, bob, "a")
    await follow(client, bob, "alice")
    query = "{ articles { nodes { slug favorited favoritesCount author { username following } } } }"
    expected = {
        "articles": {
            "nodes": [
                {
                    "slug": "b",
                    "favorited": False,
                    "favoritesCount": 0,
                    "author": {"username": "bob", "following": False},
                },
                {
                    "slug": "a",
                    "favorited": True,
                    "favoritesCount": 1,
                    "author": {"username": "alice", "following": True},
                },
            ]
        }
    }
    assert await slugs(client, query, bob) == expected
    anonymous = await slugs(client, query)
    assert anonymous["articles"]["nodes"][1] == {
        "slug": "a",
        "favorited": False,
        "favoritesCount": 1,
        "author": {"username": "alice", "following": False},
    }


FEED = "{ viewer { feed { totalCount nodes { slug author { username } } } } }"


async def test_feed_lists_articles_of_followed_users_newest_first(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    carol = await register(client, "carol")
    await create_article(client, bob, title="B1")
    await create_article(client, carol, title="C1")
    await create_article(client, alice, title="A1")
    await create_article(client, bob, title="B2")
    assert await slugs(client, FEED, alice) == {"viewer": {"feed": {"totalCount": 0, "nodes": []}}}
    await follow(client, alice, "bob")
    await follow(client, alice, "carol")
    assert await slugs(client, FEED, alice) == {
        "viewer": {
            "feed": {
                "totalCount": 3,
                "nodes": [
                    {"slug": "b2", "author": {"username": "bob"}},
                    {"slug": "c1", "author": {"username": "carol"}},
                    {"slug": "b1", "author": {"username": "bob"}},
                ],
            }
        }
    }


async def test_tags_are_most_used_first_with_article_count(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    await create_article(client, token, title="1", tagList=["rare", "common", "middle"])
    await create_article(client, token, title="2", tagList=["common", "middle"])
    await create_article(client, token, title="3", tagList=["common"])
    assert await slugs(client, "{ tags { name articleCount } }") == {
        "tags": [
            {"name": "common", "articleCount": 3},
            {"name": "middle", "articleCount": 2},
            {"name": "rare", "articleCount": 1},
        ]
    }
    assert await slugs(client, "{ tags(first: 1) { name } }") == {"tags": [{"name": "common"}]}


async def test_tags_page_size_outside_0_to_100_is_bad_user_input(client: httpx.AsyncClient) -> None:
    for size in (-1, 101):
        result = await gql(client, "query($n: Int) { tags(first: $n) { name } }", {"n": size})
        assert result["data"] is None
        assert [e["extensions"]["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]


async def test_article_id_is_a_global_id(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    created = await create_article(client, token)
    async with database(app).read_session() as session:
        article_id = await session.scalar(select(Article.id))
    assert article_id is not None
    assert created["id"] == to_global_id("Article", article_id)
