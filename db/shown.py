"""What a read shows of its rows, all read by its one statement.

A read of articles, users or comments is told by a `Demand` what the request will show of each
row: which of its columns, which values computed from other tables (counts, the viewer's flags,
tag lists), and which to-one relations, each with a demand of its own (an article's author).
`shown` turns a demand into the columns and joins of one SELECT. A page of articles with
their authors, tags, counts and the viewer's flags is then one statement whatever fields the
query selected, and statements follow the shape of the query (a root field, a nested list)
instead of its fields. Only the columns asked for are read: an article's body (a kilobyte) or a
timestamp (the costliest column to decode) only when shown.

Rows come back as nested records (`db.sql.statements.record_maker`, typed by db/rows.py): a
joined relation is a record under its name (`row.author.username`), a computed value an
attribute (`row.favorites_count`). What a demand did not ask for is absent from the record; the field
that shows it then loads it on its own (graph/batch.py).

Values that depend on the viewer (`favorited`, `following`) bind `viewer_id`; an anonymous
read leaves them out, as they are false without a viewer.
"""

from __future__ import annotations

from sqlalchemy import FromClause, bindparam, exists, func, select

from db.models import Article, Comment, Favorite, Follow, User
from db.sql.demand import Computed, Entity
from db.tags import TagNames


def _count(table: FromClause, column: str, of: str = "id") -> Computed:
    """How many rows of `table` have `column` equal to the row's `of`, read on an alias (the
    read's own FROM may hold the table)."""
    counted = table.alias(f"counted_{table.description}")
    return lambda row: (
        select(func.count()).select_from(counted).where(counted.c[column] == row.c[of]).scalar_subquery()
    )


def _viewer_has(table: FromClause, viewer: str, column: str) -> Computed:
    """Whether the viewer (`viewer_id`, bound when the read runs) has a row in `table` naming
    the row."""
    linked = table.alias(f"viewer_{table.description}")
    return lambda row: exists().where(
        linked.c[viewer] == bindparam("viewer_id"), linked.c[column] == row.c.id
    )


_FAVORITES = Favorite.__table__
_FOLLOWS = Follow.__table__

USERS = Entity(
    User.__table__,
    always=("id",),
    columns=frozenset({"username", "bio", "image", "created_at", "email"}),
    computed={
        "following": _viewer_has(_FOLLOWS, "follower_id", "followee_id"),
        "followers_count": _count(_FOLLOWS, "followee_id"),
        "following_count": _count(_FOLLOWS, "follower_id"),
        "articles_count": _count(Article.__table__, "author_id"),
        "favorites_count": _count(_FAVORITES, "user_id"),
    },
    for_viewer=frozenset({"following"}),
)

ARTICLES = Entity(
    Article.__table__,
    always=("id", "author_id", "created_at"),
    columns=frozenset({"slug", "title", "description", "body", "updated_at"}),
    computed={
        "tag_list": lambda row: TagNames(row.c.id),
        "favorited": _viewer_has(_FAVORITES, "user_id", "article_id"),
        "favorites_count": _count(_FAVORITES, "article_id"),
        "comments_count": _count(Comment.__table__, "article_id"),
    },
    relations={"author": (lambda: USERS, "author_id")},
    for_viewer=frozenset({"favorited"}),
)

COMMENTS = Entity(
    Comment.__table__,
    always=("id", "author_id", "article_id", "created_at"),
    columns=frozenset({"body", "updated_at"}),
    computed={},
    relations={"author": (lambda: USERS, "author_id"), "article": (lambda: ARTICLES, "article_id")},
)
