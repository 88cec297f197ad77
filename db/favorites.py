"""Favorites: favorite/unfavorite, counts and flags per article, each user's favorites pages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.articles import get_existing
from db.models import Article, Favorite, utc_now
from db.shown import ARTICLES
from db.sql.demand import Demand
from db.sql.fetch import Reader, fetch
from db.sql.paging import ParentPages, Slice, Window
from db.sql.statements import any_of, counts_by, insert_ignoring_duplicates

_FAVORITES = Favorite.__table__
RECENTLY_FAVORITED = (_FAVORITES.c.created_at, _FAVORITES.c.article_id)
_FAVORITE_COUNTS = counts_by(_FAVORITES.c.article_id)
_FAVORITED = select(_FAVORITES.c.article_id).where(
    _FAVORITES.c.user_id == bindparam("user_id"), any_of(_FAVORITES.c.article_id)
)


# A favorites page shows its articles as every other list of articles does.
_FAVORITE_PAGES = ParentPages(ARTICLES, _FAVORITES.c.user_id, RECENTLY_FAVORITED, descending=True)


async def favorites_pages_by_user_id(
    reader: Reader,
    user_ids: Sequence[int],
    window: Window,
    demand: Demand | None = None,
    *,
    viewer_id: int | None = None,
    counted: bool = False,
) -> dict[int, Slice]:
    """Each user's favorited articles, most recently favorited first; a row's `page_sort` is
    when the user favorited it."""
    return await _FAVORITE_PAGES.read(reader, user_ids, window, demand, viewer_id=viewer_id, counted=counted)


_FAVORITES_COUNTS_BY_USER = counts_by(_FAVORITES.c.user_id)


async def favorites_counts_by_user_id(reader: Reader, user_ids: Sequence[int]) -> dict[int, int]:
    return dict(await fetch(reader, _FAVORITES_COUNTS_BY_USER, {"ids": user_ids}))


async def favorite_counts(reader: Reader, article_ids: Sequence[int]) -> dict[int, int]:
    """Number of favorites per article; articles without any are absent."""
    return dict(await fetch(reader, _FAVORITE_COUNTS, {"ids": article_ids}))


async def favorited_ids(reader: Reader, *, user_id: int, article_ids: Sequence[int]) -> set[int]:
    """Which of `article_ids` the user favorited."""
    return {
        row.article_id for row in await fetch(reader, _FAVORITED, {"user_id": user_id, "ids": article_ids})
    }


async def favorite(session: AsyncSession, *, user_id: int, slug: str) -> Article:
    """Idempotent."""
    article = await get_existing(session, slug, keep=True)
    await insert_ignoring_duplicates(
        session,
        Favorite,
        [{"user_id": user_id, "article_id": article.id, "created_at": utc_now()}],
    )
    return article


async def unfavorite(session: AsyncSession, *, user_id: int, slug: str) -> Article:
    """Idempotent."""
    article = await get_existing(session, slug)
    await session.execute(
        delete(Favorite).where(Favorite.user_id == user_id, Favorite.article_id == article.id)
    )
    return article
