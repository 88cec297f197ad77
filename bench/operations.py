"""The measured operations, in our schema and in PostGraphile's, and how to compare their answers.

Besides the synthetic ones (typename, feed, deep, one), there is one operation for each page of
the RealWorld frontend, asking for what that page shows in one request: home (global feed and the
popular tags), your feed, a tag's feed, an article with its comments, a profile's two tabs, and
settings.

PostGraphile's generated schema names relations after foreign keys (`userByAuthorId`,
`articleTagsByArticleId`, …) and has no notion of a viewer, so only the anonymous reads have a
PostGraphile twin; `normalise_*` turn both answers into the same plain shape. Two twins read the
views of bench/peers/postgraphile/custom_queries.sql, PostGraphile's way to serve a list its
generated schema cannot order.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.config import Refused

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

# The RealWorld frontend's pages, each as it asks for its data: an article card (ArticlePreview)
# shows these fields, and each page sends one request.
CARD = """slug title description createdAt tagList favorited favoritesCount
      author { username image following }"""

HOME = f"""query Home {{
  articles(first: 10) {{
    nodes {{
      {CARD}
    }}
  }}
  tags(first: 20) {{ name }}
}}"""

YOUR_FEED = f"""query YourFeed {{
  viewer {{
    feed(first: 10) {{
      nodes {{
        {CARD}
      }}
    }}
  }}
}}"""

TAG_FEED = f"""query TagFeed($tag: String!) {{
  articles(first: 10, filter: {{ tag: $tag }}) {{
    nodes {{
      {CARD}
    }}
  }}
}}"""

ARTICLE_PAGE = """query ArticlePage($slug: String!) {
  article(slug: $slug) {
    title body createdAt tagList favorited favoritesCount
    author { username bio image following }
    comments(first: 20) {
      totalCount
      nodes { id body createdAt author { username image } }
    }
  }
}"""

PROFILE = "username bio image following followersCount followingCount"

PROFILE_ARTICLES = f"""query ProfileArticles($username: String!) {{
  user(username: $username) {{
    {PROFILE}
    articles(first: 10) {{
      totalCount
      nodes {{
        {CARD}
      }}
    }}
  }}
}}"""

PROFILE_FAVORITES = f"""query ProfileFavorites($username: String!) {{
  user(username: $username) {{
    {PROFILE}
    favorites(first: 10) {{
      totalCount
      nodes {{
        {CARD}
      }}
    }}
  }}
}}"""

SETTINGS = """query Settings {
  viewer {
    email
    user { username bio image }
  }
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

# An article card without `favorited` and the author's `following`, which need a viewer.
PG_CARD = f"""slug title description createdAt
      {PG_TAGS}
      favoritesByArticleId {{ totalCount }}
      userByAuthorId {{ username image }}"""

PG_NEWEST = "first: 10, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]"

PG_HOME = f"""query Home {{
  allArticles({PG_NEWEST}) {{
    nodes {{
      {PG_CARD}
    }}
  }}
  allPeerTagUsages(first: 20, orderBy: [ARTICLE_COUNT_DESC, ROW_ID_ASC]) {{ nodes {{ name }} }}
}}"""

PG_TAG_FEED = f"""query TagFeed($tag: String!) {{
  allPeerTaggedArticles(
    first: 10, condition: {{ tag: $tag }}, orderBy: [CREATED_AT_DESC, ARTICLE_ID_DESC]
  ) {{
    nodes {{
      articleByArticleId {{
        {PG_CARD}
      }}
    }}
  }}
}}"""

PG_ARTICLE_PAGE = f"""query ArticlePage($slug: String!) {{
  articleBySlug(slug: $slug) {{
    title body createdAt
    {PG_TAGS}
    favoritesByArticleId {{ totalCount }}
    userByAuthorId {{ username bio image }}
    commentsByArticleId(first: 20, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) {{
      totalCount
      nodes {{ rowId body createdAt userByAuthorId {{ username image }} }}
    }}
  }}
}}"""

# Users are unique by `username_key`, the NFKC-casefolded name our `user(username:)` looks up
# too; the runner computes it (db.rules.key) and PostGraphile looks the row up by it.
PG_PROFILE = """username bio image
    followsByFolloweeId { totalCount }
    followsByFollowerId { totalCount }"""

PG_PROFILE_ARTICLES = f"""query ProfileArticles($usernameKey: String!) {{
  userByUsernameKey(usernameKey: $usernameKey) {{
    {PG_PROFILE}
    articlesByAuthorId({PG_NEWEST}) {{
      totalCount
      nodes {{
        {PG_CARD}
      }}
    }}
  }}
}}"""

PG_PROFILE_FAVORITES = f"""query ProfileFavorites($usernameKey: String!) {{
  userByUsernameKey(usernameKey: $usernameKey) {{
    {PG_PROFILE}
    favoritesByUserId(first: 10, orderBy: [CREATED_AT_DESC, ARTICLE_ID_DESC]) {{
      totalCount
      nodes {{
        articleByArticleId {{
          {PG_CARD}
        }}
      }}
    }}
  }}
}}"""


@dataclass(frozen=True, slots=True)
class Targets:
    """The rows the pages read: an article with comments, a popular tag, a profile; and the
    article the write path comments on."""

    slug: str
    write_slug: str
    tag: str
    username: str
    username_key: str

    def values(self) -> dict[str, str]:
        """Each query variable by name; an operation takes those its text declares."""
        return {
            "slug": self.slug,
            "tag": self.tag,
            "username": self.username,
            "usernameKey": self.username_key,
        }


@dataclass(frozen=True, slots=True)
class Operation:
    """One measured request: its GraphQL for us, its PostGraphile twin if any, and how it is sent."""

    name: str
    query: str
    peer_query: str | None = None
    signed_in: bool = False
    write: bool = False
    page: bool = False

    def variables(self, targets: Targets, *, peer: bool = False) -> dict[str, Any]:
        if self.write:
            return {"input": {"articleSlug": targets.write_slug, "body": "A benchmark comment."}}
        query = self.peer_query if peer else self.query
        assert query is not None
        declared = set(re.findall(r"\$(\w+)", query))
        return {name: value for name, value in targets.values().items() if name in declared}


OPERATIONS = (
    Operation("typename", TYPENAME, peer_query=TYPENAME),
    Operation("feed", FEED, peer_query=PG_FEED),
    Operation("feed (signed in)", FEED, signed_in=True),
    Operation("deep", DEEP, peer_query=PG_DEEP),
    Operation("one", ONE, peer_query=PG_ONE),
    Operation("addComment (signed in)", ADD_COMMENT, signed_in=True, write=True),
    Operation("home", HOME, peer_query=PG_HOME, page=True),
    Operation("your feed (signed in)", YOUR_FEED, signed_in=True, page=True),
    Operation("tag feed", TAG_FEED, peer_query=PG_TAG_FEED, page=True),
    Operation("article", ARTICLE_PAGE, peer_query=PG_ARTICLE_PAGE, page=True),
    Operation("article (signed in)", ARTICLE_PAGE, signed_in=True, page=True),
    Operation("profile articles", PROFILE_ARTICLES, peer_query=PG_PROFILE_ARTICLES, page=True),
    Operation("profile favorites", PROFILE_FAVORITES, peer_query=PG_PROFILE_FAVORITES, page=True),
    Operation("settings (signed in)", SETTINGS, signed_in=True, page=True),
)


def chosen(names: tuple[str, ...] | None) -> tuple[Operation, ...]:
    """The operations BENCH_OPERATIONS names (all when None), in the documented order; an unknown
    name is refused rather than ignored, so a typo cannot shorten a run unnoticed."""
    if names is None:
        return OPERATIONS
    known = [operation.name for operation in OPERATIONS]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise Refused(f"bench: BENCH_OPERATIONS names unknown operations {unknown}; known: {known}")
    return tuple(operation for operation in OPERATIONS if operation.name in names)


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


def ours_card(node: dict[str, Any]) -> dict[str, Any]:
    """An article card without what needs a viewer (false for anonymous requests anyway)."""
    return {
        "slug": node["slug"],
        "title": node["title"],
        "description": node["description"],
        "createdAt": instant(node["createdAt"]),
        "tagList": node["tagList"],
        "favoritesCount": node["favoritesCount"],
        "author": _author(node["author"], "image"),
    }


def peer_card(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": node["slug"],
        "title": node["title"],
        "description": node["description"],
        "createdAt": instant(node["createdAt"]),
        "tagList": _pg_tags(node),
        "favoritesCount": node["favoritesByArticleId"]["totalCount"],
        "author": _author(node["userByAuthorId"], "image"),
    }


def ours_home(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "articles": [ours_card(node) for node in data["articles"]["nodes"]],
        "tags": [tag["name"] for tag in data["tags"]],
    }


def peer_home(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "articles": [peer_card(node) for node in data["allArticles"]["nodes"]],
        "tags": [tag["name"] for tag in data["allPeerTagUsages"]["nodes"]],
    }


def ours_tag_feed(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [ours_card(node) for node in data["articles"]["nodes"]]


def peer_tag_feed(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer_card(node["articleByArticleId"]) for node in data["allPeerTaggedArticles"]["nodes"]]


def row_id(global_id: str) -> int:
    """Our global IDs are base64 of "Type:pk" (graph/node.py); PostGraphile's differ, so the
    rows are compared by primary key."""
    return int(base64.b64decode(global_id).decode().partition(":")[2])


def ours_article(data: dict[str, Any]) -> dict[str, Any]:
    article = data["article"]
    return {
        "title": article["title"],
        "body": article["body"],
        "createdAt": instant(article["createdAt"]),
        "tagList": article["tagList"],
        "favoritesCount": article["favoritesCount"],
        "author": _author(article["author"], "bio", "image"),
        "commentCount": article["comments"]["totalCount"],
        "comments": [
            (row_id(c["id"]), c["body"], instant(c["createdAt"]), _author(c["author"], "image"))
            for c in article["comments"]["nodes"]
        ],
    }


def peer_article(data: dict[str, Any]) -> dict[str, Any]:
    article = data["articleBySlug"]
    comments = article["commentsByArticleId"]
    return {
        "title": article["title"],
        "body": article["body"],
        "createdAt": instant(article["createdAt"]),
        "tagList": _pg_tags(article),
        "favoritesCount": article["favoritesByArticleId"]["totalCount"],
        "author": _author(article["userByAuthorId"], "bio", "image"),
        "commentCount": comments["totalCount"],
        "comments": [
            (c["rowId"], c["body"], instant(c["createdAt"]), _author(c["userByAuthorId"], "image"))
            for c in comments["nodes"]
        ],
    }


def _ours_profile(user: dict[str, Any], tab: str) -> dict[str, Any]:
    return {
        **_author(user, "bio", "image"),
        "followersCount": user["followersCount"],
        "followingCount": user["followingCount"],
        "totalCount": user[tab]["totalCount"],
        "articles": [ours_card(node) for node in user[tab]["nodes"]],
    }


def _peer_profile(user: dict[str, Any], count: int, articles: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **_author(user, "bio", "image"),
        "followersCount": user["followsByFolloweeId"]["totalCount"],
        "followingCount": user["followsByFollowerId"]["totalCount"],
        "totalCount": count,
        "articles": [peer_card(node) for node in articles],
    }


def ours_profile_articles(data: dict[str, Any]) -> dict[str, Any]:
    return _ours_profile(data["user"], "articles")


def peer_profile_articles(data: dict[str, Any]) -> dict[str, Any]:
    user = data["userByUsernameKey"]
    written = user["articlesByAuthorId"]
    return _peer_profile(user, written["totalCount"], written["nodes"])


def ours_profile_favorites(data: dict[str, Any]) -> dict[str, Any]:
    return _ours_profile(data["user"], "favorites")


def peer_profile_favorites(data: dict[str, Any]) -> dict[str, Any]:
    user = data["userByUsernameKey"]
    liked = user["favoritesByUserId"]
    return _peer_profile(user, liked["totalCount"], [f["articleByArticleId"] for f in liked["nodes"]])


Normaliser = Callable[[dict[str, Any]], Any]
# For each compared operation: how to read our answer and how to read PostGraphile's.
NORMALISERS: dict[str, tuple[Normaliser, Normaliser]] = {
    "feed": (ours_feed, peer_feed),
    "deep": (ours_deep, peer_deep),
    "one": (ours_one, peer_one),
    "home": (ours_home, peer_home),
    "tag feed": (ours_tag_feed, peer_tag_feed),
    "article": (ours_article, peer_article),
    "profile articles": (ours_profile_articles, peer_profile_articles),
    "profile favorites": (ours_profile_favorites, peer_profile_favorites),
}
