"""Comments on articles."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from db import articles, rules
from db.errors import Forbidden, NotFound
from db.models import Comment, utc_now
from db.rows import CommentRow
from db.shown import COMMENTS
from db.sql.demand import Demand, shown
from db.sql.fetch import Reader, fetch
from db.sql.paging import ParentPages, Query, Slice, Window
from db.sql.statements import any_of, counts_by

_COMMENTS = Comment.__table__
OLDEST_FIRST = (_COMMENTS.c.created_at, _COMMENTS.c.id)
_COUNTS = counts_by(_COMMENTS.c.article_id)


@lru_cache(maxsize=256)
def _by_ids(demand: Demand | None, anonymous: bool) -> Query:
    view = shown(COMMENTS, demand, anonymous)
    return view.select().where(any_of(view.row.c.id))


async def comments_by_id(
    reader: Reader, comment_ids: Sequence[int], demand: Demand | None = None, *, viewer_id: int | None = None
) -> dict[int, CommentRow]:
    found: list[CommentRow] = await fetch(
        reader, _by_ids(demand, viewer_id is None), {"ids": comment_ids, "viewer_id": viewer_id}
    )
    return {comment.id: comment for comment in found}


_PAGES = ParentPages(COMMENTS, _COMMENTS.c.article_id, OLDEST_FIRST, descending=False)


async def pages_by_article_id(
    reader: Reader,
    article_ids: Sequence[int],
    window: Window,
    demand: Demand | None = None,
    *,
    viewer_id: int | None = None,
    counted: bool = False,
) -> dict[int, Slice]:
    """Each article's comments, oldest first, all in one statement."""
    return await _PAGES.read(reader, article_ids, window, demand, viewer_id=viewer_id, counted=counted)


async def counts_by_article_id(reader: Reader, article_ids: Sequence[int]) -> dict[int, int]:
    return dict(await fetch(reader, _COUNTS, {"ids": article_ids}))


async def create(session: AsyncSession, *, author_id: int, article_slug: str, body: str) -> Comment:
    body = rules.prose(body, "body", max_length=rules.COMMENT_MAX)
    try:
        article = await articles.get_existing(session, article_slug, keep=True)
    except NotFound:
        raise NotFound("article not found", field=("article_slug",)) from None
    now = utc_now()
    return (
        await session.scalars(
            insert(Comment)
            .values(body=body, article_id=article.id, author_id=author_id, created_at=now, updated_at=now)
            .returning(Comment)
        )
    ).one()


async def delete_comment(session: AsyncSession, *, editor_id: int, comment_id: int) -> int:
    """Only the comment's author may delete it; returns the id of the article it was on."""
    comment = await session.get(Comment, comment_id, with_for_update=True)
    if comment is None:
        raise NotFound("comment not found", field=("id",))
    if comment.author_id != editor_id:
        raise Forbidden("only the author may delete this comment")
    await session.execute(delete(Comment).where(Comment.id == comment_id))
    return comment.article_id
