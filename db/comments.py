"""Comments on articles."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import articles, rules
from db.errors import Forbidden, NotFound
from db.models import Comment, utc_now
from db.paging import Slice, Window, slices_by_parent, windowed_per_parent

OLDEST_FIRST = (Comment.created_at, Comment.id)


async def comments_by_id(session: AsyncSession, comment_ids: Sequence[int]) -> dict[int, Comment]:
    comments = await session.scalars(select(Comment).where(Comment.id.in_(comment_ids)))
    return {comment.id: comment for comment in comments}


async def pages_by_article_id(
    session: AsyncSession, article_ids: Sequence[int], window: Window
) -> dict[int, Slice]:
    """Each article's comments, oldest first, all in one statement."""
    stmt = windowed_per_parent(
        select(Comment).where(Comment.article_id.in_(article_ids)),
        Comment.article_id,
        OLDEST_FIRST,
        descending=False,
        window=window,
    )
    rows = (await session.execute(stmt)).all()
    return slices_by_parent(rows, "article_id", article_ids, window)


async def counts_by_article_id(session: AsyncSession, article_ids: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        select(Comment.article_id, func.count())
        .where(Comment.article_id.in_(article_ids))
        .group_by(Comment.article_id)
    )
    return dict(rows.all())


async def create(session: AsyncSession, *, author_id: int, article_slug: str, body: str) -> Comment:
    body = rules.text(body, "body", max_length=rules.COMMENT_MAX)
    try:
        article = await articles.get_existing(session, article_slug)
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


async def delete_comment(session: AsyncSession, *, editor_id: int, comment_id: int) -> None:
    """Only the comment's author may delete it."""
    comment = await session.get(Comment, comment_id, with_for_update=True)
    if comment is None:
        raise NotFound("comment not found", field=("id",))
    if comment.author_id != editor_id:
        raise Forbidden("only the author may delete this comment")
    await session.execute(delete(Comment).where(Comment.id == comment_id))
