"""The lists a query pages through, as JSON reads (db/sql/json.py) read them: each list's rows,
order and members, the same as the row reads of db/articles.py, db/comments.py,
db/favorites.py and db/feeds.py, whose order columns these are."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, FromClause, bindparam, func, literal_column, select

from db.articles import narrowed
from db.models import Article, ArticleTag, Comment, Favorite, Follow, Tag
from db.shown import ARTICLES, COMMENTS
from db.sql.paging import Query
from db.sql.trees import Listing

Members = Callable[[FromClause, FromClause | None, str, frozenset[str]], list[ColumnElement[bool]]]


def _of_parent(column: str) -> Members:
    """The links naming the parent row in `column`."""

    def members(
        links: FromClause, parent: FromClause | None, prefix: str, parts: frozenset[str]
    ) -> list[ColumnElement[bool]]:
        assert parent is not None
        return [links.c[column] == parent.c.id]

    return members


def _followed(
    links: FromClause, parent: FromClause | None, prefix: str, parts: frozenset[str]
) -> list[ColumnElement[bool]]:
    """Articles by the users the viewer follows (a feed is only ever the viewer's)."""
    followed = select(Follow.followee_id).where(Follow.follower_id == bindparam("viewer_id"))
    return [links.c.author_id.in_(followed)]


def _narrowed(
    links: FromClause, parent: FromClause | None, prefix: str, parts: frozenset[str]
) -> list[ColumnElement[bool]]:
    return narrowed(links, parts, prefix)


_ARTICLES = Article.__table__
NEWEST = ("created_at", "id")

COMMENTS_OF_ARTICLE = Listing(COMMENTS, Comment.__table__, NEWEST, False, _of_parent("article_id"))
ARTICLES_OF_AUTHOR = Listing(ARTICLES, _ARTICLES, NEWEST, True, _of_parent("author_id"))
FAVORITES_OF_USER = Listing(
    ARTICLES, Favorite.__table__, ("created_at", "article_id"), True, _of_parent("user_id")
)
FEED = Listing(ARTICLES, _ARTICLES, NEWEST, True, _followed)
ALL_ARTICLES = Listing(ARTICLES, _ARTICLES, NEWEST, True, _narrowed)


def tag_usage(limit: int) -> Query:
    """The most used tags as db.tags.list_tags orders them, at most `limit` (written into the
    statement, as db/sql/trees.py's `Page` says why): their `id`, `name` and `article_count`."""
    links, tags = ArticleTag.__table__.alias(), Tag.__table__.alias()
    usage = func.count(links.c.article_id)
    return (
        select(tags.c.id, tags.c.name, usage.label("article_count"))
        .join_from(tags, links, links.c.tag_id == tags.c.id)
        .group_by(tags.c.id, tags.c.name)
        .order_by(usage.desc(), tags.c.id)
        .limit(literal_column(str(int(limit))))
    )
