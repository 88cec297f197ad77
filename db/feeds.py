"""The feed: articles by the users a viewer follows, newest first (shown as db/articles.py
shows every list of articles)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import bindparam, func, select

from db.articles import NEWEST_FIRST
from db.models import Follow
from db.shown import ARTICLES
from db.sql.demand import Demand, shown
from db.sql.fetch import Reader, fetch
from db.sql.paging import Query, Shape, Slice, Window, cut, windowed


def _followed() -> Query:
    return select(Follow.followee_id).where(Follow.follower_id == bindparam("follower_id"))


@lru_cache(maxsize=256)
def _feed(shape: Shape, demand: Demand | None, anonymous: bool, counted: bool) -> Query:
    view = shown(ARTICLES, demand, anonymous)
    stmt = view.select().where(view.row.c.author_id.in_(_followed()))
    if counted:
        stmt = stmt.add_columns(_FEED_COUNT.scalar_subquery().label("total_count"))
    return windowed(stmt, NEWEST_FIRST, descending=True, shape=shape)


async def list_feed(
    reader: Reader,
    *,
    follower_id: int,
    window: Window,
    demand: Demand | None = None,
    counted: bool = False,
) -> Slice:
    """Articles by the users `follower_id` follows, newest first (the follower is the viewer);
    with `counted`, the feed's length is read with the page."""
    parameters = {"follower_id": follower_id, "viewer_id": follower_id, **window.parameters()}
    stmt = _feed(window.shape, demand, False, counted)
    return cut(await fetch(reader, stmt, parameters), window, counted=counted)


_COUNTED = ARTICLES.table.alias("counted")
_FEED_COUNT = select(func.count()).select_from(_COUNTED).where(_COUNTED.c.author_id.in_(_followed()))


async def count_feed(reader: Reader, *, follower_id: int) -> int:
    [(count,)] = await fetch(reader, _FEED_COUNT, {"follower_id": follower_id})
    return int(count)
