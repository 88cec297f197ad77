"""The feed: articles by the users a viewer follows, newest first (shown as db/articles.py
shows every list of articles)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, func, select

# The columns a read of articles shows, and their join with the authors.
from db.articles import _ARTICLES, _SHOWN, _WITH_AUTHORS, NEWEST_FIRST
from db.models import Follow
from db.sql.fetch import Reader, fetch
from db.sql.paging import Query, Shape, Slice, Window, cut, windowed


@cache
def _feed(shape: Shape) -> Query:
    followed = select(Follow.followee_id).where(Follow.follower_id == bindparam("follower_id"))
    shown = select(*_SHOWN).select_from(_WITH_AUTHORS).where(_ARTICLES.c.author_id.in_(followed))
    return windowed(shown, NEWEST_FIRST, descending=True, shape=shape)


async def list_feed(session: Reader, *, follower_id: int, window: Window) -> Slice:
    """Articles by the users `follower_id` follows, newest first."""
    parameters = {"follower_id": follower_id, **window.parameters()}
    return cut(await fetch(session, _feed(window.shape), parameters), window)


_FEED_COUNT = (
    select(func.count())
    .select_from(_ARTICLES)
    .where(
        _ARTICLES.c.author_id.in_(
            select(Follow.followee_id).where(Follow.follower_id == bindparam("follower_id"))
        )
    )
)


async def count_feed(session: Reader, *, follower_id: int) -> int:
    [(count,)] = await fetch(session, _FEED_COUNT, {"follower_id": follower_id})
    return int(count)
