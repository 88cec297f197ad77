"""Slugs: derived from an article's title, unique, and remembered.

Every slug an article has had is kept (`article_slugs`): a former slug stays its article's, so
a client that kept one (a bookmark, a version it read) is told the article changed, or that
it is not found, and is never pointed at another article that took the name over.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from slugify import slugify
from sqlalchemy import Executable, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import Conflict
from db.models import Article, ArticleSlug

_FORMER_AUTHOR = (
    select(Article.author_id)
    .join(ArticleSlug, ArticleSlug.article_id == Article.id)
    .where(ArticleSlug.slug == bindparam("slug"))
)


async def former_author_id(session: AsyncSession, slug: str) -> int | None:
    """The author of the article that once had `slug` (None when none had it, or it is deleted)."""
    author_id: int | None = await session.scalar(_FORMER_AUTHOR, {"slug": slug})
    return author_id


async def free_slug(session: AsyncSession, title: str, *, except_id: int | None = None) -> tuple[str, bool]:
    """The title's slug with the smallest numeric suffix that no other article has ever had,
    and whether it is one of `except_id`'s own (already in its history, so not recorded again).

    A former slug stays its article's: a client that kept it (a bookmark, a version read) is
    told the article changed or is `NotFound`, never pointed at a different article that took
    the name over. Deleting the article frees its slugs.
    """
    base = slugify(title, allow_unicode=True, max_length=240, word_boundary=True) or "article"
    stmt = select(ArticleSlug.slug, ArticleSlug.article_id).where(
        (ArticleSlug.slug == base) | ArticleSlug.slug.startswith(f"{base}-", autoescape=True)
    )
    had: dict[str, int] = dict((await session.execute(stmt)).all())
    slug, suffix = base, 2
    while slug in had and had[slug] != except_id:
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug, slug in had


async def save_with_unique_slug(
    session: AsyncSession,
    title: str,
    statement: Callable[[str], Executable],
    *,
    except_id: int | None = None,
) -> Article:
    """Run the INSERT/UPDATE with a free slug and record the slug in the article's history, in
    one savepoint; if a concurrent writer takes the slug first (either unique key), retry."""
    slug, recorded = await free_slug(session, title, except_id=except_id)
    for _ in range(5):
        try:
            async with session.begin_nested():
                article: Article = (await session.scalars(statement(slug))).one()
                if not recorded:
                    await session.execute(insert(ArticleSlug).values(slug=slug, article_id=article.id))
                return article
        except IntegrityError as error:
            if not slug_taken(error):  # a missing author, say: not for a new slug to fix
                raise
            slug, recorded = f"{slug}-{secrets.token_hex(3)}", False
    raise Conflict("could not find a free slug for this title", field=("title",))


def slug_taken(error: IntegrityError) -> bool:
    """Whether the violation is a slug's uniqueness, current or in the history (each engine
    names it its own way)."""
    message = str(error.orig)
    return any(
        name in message
        for name in ("uq_articles_slug", "articles.slug", "pk_article_slugs", "article_slugs.slug")
    )
