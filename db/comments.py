"""Comments on articles."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import articles, rules
from db.errors import Forbidden, NotFound
from db.models import Comment, User, utc_now
from db.sql.fetch import Reader, fetch
from db.sql.paging import ParentPages, Slice, Window
from db.sql.statements import Record, any_of, author_columns, counts_by

_COMMENTS = Comment.__table__
OLDEST_FIRST = (_COMMENTS.c.created_at, _COMMENTS.c.id)
_AUTHORS = User.__table__.alias("author")
# A comment and its author (a nested record, `author`), in one statement.
_SHOWN = (
    *_COMMENTS.c,
    *(column.label(f"author__{column.key}") for column in author_columns(_AUTHORS)),
)
_WITH_AUTHORS = _COMMENTS.join(_AUTHORS, _AUTHORS.c.id == _COMMENTS.c.author_id)
_BY_IDS = select(*_SHOWN).select_from(_WITH_AUTHORS).where(any_of(_COMMENTS.c.id))
_COUNTS = counts_by(_COMMENTS.c.article_id)


async def comments_by_id(session: Reader, comment_ids: Sequence[int]) -> dict[int, Record]:
    found = await fetch(session, _BY_IDS, {"ids": comment_ids})
    return {comment.id: comment for comment in found}


_PAGES = ParentPages(
    select(*_SHOWN), _WITH_AUTHORS, _COMMENTS.c.id, _COMMENTS.c.article_id, OLDEST_FIRST, descending=False
)


async def pages_by_article_id(
    session: Reader, article_ids: Sequence[int], window: Window
) -> dict[int, Slice]:
    """Each article's comments, oldest first, all in one statement."""
    return await _PAGES.read(session, article_ids, window)


async def counts_by_article_id(session: Reader, article_ids: Sequence[int]) -> dict[int, int]:
    return dict(await fetch(session, _COUNTS, {"ids": article_ids}))


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
