"""The measured operations, in our schema and in PostGraphile's, and how to compare their answers.

PostGraphile's generated schema names relations after foreign keys (`userByAuthorId`,
`articleTagsByArticleId`, …) and has no notion of a viewer, so only the anonymous reads have a
PostGraphile twin; `normalise_*` turn both answers into the same plain shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FEED = """query Feed {
  articles(first: 20) {
    nodes {
      slug title description createdAt tagList favoritesCount favorited
      author { username bio image following }
    }
  }
}"""

DEEP = """query Deep {
  articles(first: 50) {
    nodes {
      title tagList
      author { username }
      comments(first: 10) { nodes { body author { username } } }
    }
  }
}"""

ONE = """query One($slug: String!) {
  article(slug: $slug) {
    body tagList
    author { username }
    comments(first: 20) { nodes { body createdAt author { username } } }
  }
}"""

TYPENAME = "{ __typename }"

ADD_COMMENT = """mutation AddComment($input: AddCommentInput!) {
  addComment(input: $input) { comment { id } errors { code message } }
}"""

LOGIN = """mutation Login($input: LoginInput!) {
  login(input: $input) { token errors { code message } }
}"""

# PostGraphile twins. Tags are ordered by `position` so they come back as our `tagList` does.
PG_TAGS = "articleTagsByArticleId(orderBy: POSITION_ASC) { nodes { tagByTagId { name } } }"

PG_FEED = f"""query Feed {{
  allArticles(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {{
    nodes {{
      slug title description createdAt
      {PG_TAGS}
      favoritesByArticleId {{ totalCount }}
      userByAuthorId {{ username bio image }}
    }}
  }}
}}"""

PG_DEEP = f"""query Deep {{
  allArticles(first: 50, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {{
    nodes {{
      title
      {PG_TAGS}
      userByAuthorId {{ username }}
      commentsByArticleId(first: 10, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {{
        nodes {{ body userByAuthorId {{ username }} }}
      }}
    }}
  }}
}}"""

PG_ONE = f"""query One($slug: String!) {{
  articleBySlug(slug: $slug) {{
    body
    {PG_TAGS}
    userByAuthorId {{ username }}
    commentsByArticleId(first: 20, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {{
      nodes {{ body createdAt userByAuthorId {{ username }} }}
    }}
  }}
}}"""


@dataclass(frozen=True, slots=True)
class Operation:
    """One measured request: its GraphQL for us, its PostGraphile twin if any, and how it is sent."""

    name: str
    query: str
    peer_query: str | None = None
    signed_in: bool = False
    write: bool = False
    needs_slug: bool = False

    def variables(self, slug: str, write_slug: str) -> dict[str, Any]:
        if self.write:
            return {"input": {"articleSlug": write_slug, "body": "A benchmark comment."}}
        return {"slug": slug} if self.needs_slug else {}


OPERATIONS = (
    Operation("typename", TYPENAME, peer_query=TYPENAME),
    Operation("feed", FEED, peer_query=PG_FEED),
    Operation("feed (signed in)", FEED, signed_in=True),
    Operation("deep", DEEP, peer_query=PG_DEEP),
    Operation("one", ONE, peer_query=PG_ONE, needs_slug=True),
    Operation("addComment (signed in)", ADD_COMMENT, signed_in=True, write=True),
)


def instant(value: str) -> str:
    """Timestamps as one canonical UTC string: the servers format offsets differently."""
    return datetime.fromisoformat(value).astimezone(UTC).isoformat()


def _pg_tags(node: dict[str, Any]) -> list[str]:
    return [link["tagByTagId"]["name"] for link in node["articleTagsByArticleId"]["nodes"]]


def _author(user: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {name: user[name] for name in ("username", *fields)}


def ours_feed(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "slug": node["slug"],
            "title": node["title"],
            "description": node["description"],
            "createdAt": instant(node["createdAt"]),
            "tagList": node["tagList"],
            "favoritesCount": node["favoritesCount"],
            "author": _author(node["author"], "bio", "image"),
        }
        for node in data["articles"]["nodes"]
    ]


def peer_feed(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "slug": node["slug"],
            "title": node["title"],
            "description": node["description"],
            "createdAt": instant(node["createdAt"]),
            "tagList": _pg_tags(node),
            "favoritesCount": node["favoritesByArticleId"]["totalCount"],
            "author": _author(node["userByAuthorId"], "bio", "image"),
        }
        for node in data["allArticles"]["nodes"]
    ]


def ours_deep(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "title": node["title"],
            "tagList": node["tagList"],
            "author": node["author"]["username"],
            "comments": [(c["body"], c["author"]["username"]) for c in node["comments"]["nodes"]],
        }
        for node in data["articles"]["nodes"]
    ]


def peer_deep(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "title": node["title"],
            "tagList": _pg_tags(node),
            "author": node["userByAuthorId"]["username"],
            "comments": [
                (c["body"], c["userByAuthorId"]["username"]) for c in node["commentsByArticleId"]["nodes"]
            ],
        }
        for node in data["allArticles"]["nodes"]
    ]


def ours_one(data: dict[str, Any]) -> dict[str, Any]:
    article = data["article"]
    return {
        "body": article["body"],
        "tagList": article["tagList"],
        "author": article["author"]["username"],
        "comments": [
            (c["body"], instant(c["createdAt"]), c["author"]["username"])
            for c in article["comments"]["nodes"]
        ],
    }


def peer_one(data: dict[str, Any]) -> dict[str, Any]:
    article = data["articleBySlug"]
    return {
        "body": article["body"],
        "tagList": _pg_tags(article),
        "author": article["userByAuthorId"]["username"],
        "comments": [
            (c["body"], instant(c["createdAt"]), c["userByAuthorId"]["username"])
            for c in article["commentsByArticleId"]["nodes"]
        ],
    }


Normaliser = Callable[[dict[str, Any]], Any]
# For each compared operation: how to read our answer and how to read PostGraphile's.
NORMALISERS: dict[str, tuple[Normaliser, Normaliser]] = {
    "feed": (ours_feed, peer_feed),
    "deep": (ours_deep, peer_deep),
    "one": (ours_one, peer_one),
}
