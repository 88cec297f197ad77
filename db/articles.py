"""Articles, their tags and favorites."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slugify import slugify
from sqlalchemy import Executable, delete, false, func, insert, select
from sqlalchemy import update as update_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import rules, tags
from db.errors import Conflict, Forbidden, Invalid, NotFound
from db.models import Article, Favorite, Follow, User, utc_now
from db.paging import Query, Slice, Window, cut, slices_by_parent, windowed, windowed_per_parent
from db.statements import insert_ignoring_duplicates

NEWEST_FIRST = (Article.created_at, Article.id)
RECENTLY_FAVORITED = (Favorite.created_at, Favorite.article_id)


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Narrowing of the global list; given parts combine with AND."""

    tag: str | None = None
    author: str | None = None
    favorited_by: str | None = None


async def get_by_slug(session: AsyncSession, slug: str) -> Article | None:
    if "\x00" in slug:
        return None
    return await session.scalar(select(Article).where(Article.slug == slug))


async def articles_by_id(session: AsyncSession, article_ids: Sequence[int]) -> dict[int, Article]:
    articles = await session.scalars(select(Article).where(Article.id.in_(article_ids)))
    return {article.id: article for article in articles}


def _filtered(stmt: Query, narrowing: ArticleFilter) -> Query:
    given = (narrowing.tag, narrowing.author, narrowing.favorited_by)
    if any(value is not None and "\x00" in value for value in given):
        # No name holds a NUL, and PostgreSQL refuses to even compare one.
        return stmt.where(false())
    if narrowing.tag is not None:
        stmt = stmt.where(Article.id.in_(tags.article_ids_with_tag(narrowing.tag)))
    if narrowing.author is not None:
        author = select(User.id).where(User.username_key == rules.key(narrowing.author))
        stmt = stmt.where(Article.author_id.in_(author.scalar_subquery()))
    if narrowing.favorited_by is not None:
        fan = select(User.id).where(User.username_key == rules.key(narrowing.favorited_by))
        favorited = select(Favorite.article_id).where(Favorite.user_id.in_(fan.scalar_subquery()))
        stmt = stmt.where(Article.id.in_(favorited))
    return stmt


async def list_articles(session: AsyncSession, *, narrowing: ArticleFilter, window: Window) -> Slice:
    """The global list, newest first."""
    stmt = windowed(_filtered(select(Article), narrowing), NEWEST_FIRST, descending=True, window=window)
    return cut((await session.scalars(stmt)).all(), window)


async def count_articles(session: AsyncSession, *, narrowing: ArticleFilter) -> int:
    stmt = _filtered(select(func.count()).select_from(Article), narrowing)
    return (await session.scalar(stmt)) or 0


def _feed(follower_id: int) -> Query:
    followed = select(Follow.followee_id).where(Follow.follower_id == follower_id)
    return select(Article).where(Article.author_id.in_(followed))


async def list_feed(session: AsyncSession, *, follower_id: int, window: Window) -> Slice:
    """Articles by the users `follower_id` follows, newest first."""
    stmt = windowed(_feed(follower_id), NEWEST_FIRST, descending=True, window=window)
    return cut((await session.scalars(stmt)).all(), window)


async def count_feed(session: AsyncSession, *, follower_id: int) -> int:
    stmt = select(func.count()).select_from(_feed(follower_id).subquery())
    return (await session.scalar(stmt)) or 0


async def pages_by_author_id(
    session: AsyncSession, author_ids: Sequence[int], window: Window
) -> dict[int, Slice]:
    """Each author's articles, newest first, all in one statement."""
    stmt = windowed_per_parent(
        select(Article).where(Article.author_id.in_(author_ids)),
        Article.author_id,
        NEWEST_FIRST,
        descending=True,
        window=window,
    )
    return slices_by_parent((await session.execute(stmt)).all(), "author_id", author_ids, window)


async def counts_by_author_id(session: AsyncSession, author_ids: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        select(Article.author_id, func.count())
        .where(Article.author_id.in_(author_ids))
        .group_by(Article.author_id)
    )
    return dict(rows.all())


async def favorites_pages_by_user_id(
    session: AsyncSession, user_ids: Sequence[int], window: Window
) -> dict[int, Slice]:
    """Each user's favorited articles, most recently favorited first; rows carry `favorited_at`."""
    stmt = windowed_per_parent(
        select(Article, Favorite.user_id, Favorite.created_at.label("favorited_at"))
        .join(Favorite, Favorite.article_id == Article.id)
        .where(Favorite.user_id.in_(user_ids)),
        Favorite.user_id,
        RECENTLY_FAVORITED,
        descending=True,
        window=window,
    )
    return slices_by_parent((await session.execute(stmt)).all(), "user_id", user_ids, window)


async def favorites_counts_by_user_id(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        select(Favorite.user_id, func.count())
        .where(Favorite.user_id.in_(user_ids))
        .group_by(Favorite.user_id)
    )
    return dict(rows.all())


async def favorite_counts(session: AsyncSession, article_ids: Sequence[int]) -> dict[int, int]:
    """Number of favorites per article; articles without any are absent."""
    rows = await session.execute(
        select(Favorite.article_id, func.count())
        .where(Favorite.article_id.in_(article_ids))
        .group_by(Favorite.article_id)
    )
    return dict(rows.all())


async def favorited_ids(session: AsyncSession, *, user_id: int, article_ids: Sequence[int]) -> set[int]:
    """Which of `article_ids` the user favorited."""
    rows = await session.scalars(
        select(Favorite.article_id).where(Favorite.user_id == user_id, Favorite.article_id.in_(article_ids))
    )
    return set(rows)


async def create(
    session: AsyncSession,
    *,
    author_id: int,
    title: str,
    description: str,
    body: str,
    tag_list: list[str] | None,
) -> Article:
    """A new article with its tags, as one unit; the slug is derived from the title."""
    title, description, body, names = rules.all_of(
        lambda: rules.text(title, "title", max_length=rules.TITLE_MAX).strip(),
        lambda: rules.text(description, "description", max_length=rules.DESCRIPTION_MAX),
        lambda: rules.text(body, "body", max_length=rules.BODY_MAX),
        lambda: rules.tag_list(tag_list or []),
    )
    now = utc_now()
    values = {"title": title, "description": description, "body": body}
    article = await _save_with_unique_slug(
        session,
        title,
        lambda slug: (
            insert(Article)
            .values(**values, slug=slug, author_id=author_id, created_at=now, updated_at=now)
            .returning(Article)
        ),
    )
    await tags.replace(session, article_id=article.id, names=names)
    return article


_UNSET: Any = object()


async def update(
    session: AsyncSession,
    *,
    editor_id: int,
    slug: str,
    title: str | None = _UNSET,
    description: str | None = _UNSET,
    body: str | None = _UNSET,
    tag_list: list[str] | None = _UNSET,
    expected_updated_at: datetime | None = None,
) -> Article:
    """Change what is given; absent keeps, `tag_list=[]` clears, `None` for any field is `Invalid`."""
    article = await _owned(session, slug=slug, user_id=editor_id, lock=True)
    if expected_updated_at is not None and article.updated_at != expected_updated_at:
        raise Conflict("the article changed since you read it", field=("expected_updated_at",))
    given = {
        name: value
        for name, value in {
            "title": title,
            "description": description,
            "body": body,
            "tag_list": tag_list,
        }.items()
        if value is not _UNSET
    }
    checked = rules.all_of(*(lambda n=n, v=v: _check_change(n, v) for n, v in given.items()))
    changes = dict(zip(given, checked, strict=True))
    names = changes.pop("tag_list", None)
    if names is not None:
        await tags.replace(session, article_id=article.id, names=names)
    changes["updated_at"] = max(utc_now(), article.updated_at)
    statement = update_(Article).where(Article.id == article.id).returning(Article)
    if "title" not in changes or changes["title"] == article.title:
        return (await session.scalars(statement.values(changes))).one()
    return await _save_with_unique_slug(
        session,
        changes["title"],
        lambda slug: statement.values({**changes, "slug": slug}),
        except_id=article.id,
    )


def _check_change(name: str, value: Any) -> Any:
    if value is None:
        raise Invalid("can't be null", field=(name,))
    if name == "title":
        return rules.text(value, "title", max_length=rules.TITLE_MAX).strip()
    if name == "description":
        return rules.text(value, "description", max_length=rules.DESCRIPTION_MAX)
    if name == "body":
        return rules.text(value, "body", max_length=rules.BODY_MAX)
    return rules.tag_list(value)


async def delete_article(session: AsyncSession, *, editor_id: int, slug: str) -> int:
    """Remove the article with its comments, tag links and favorites; returns its id."""
    article = await _owned(session, slug=slug, user_id=editor_id, lock=True)
    await session.execute(delete(Article).where(Article.id == article.id))
    return article.id


async def favorite(session: AsyncSession, *, user_id: int, slug: str) -> Article:
    """Idempotent."""
    article = await get_existing(session, slug)
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


async def get_existing(session: AsyncSession, slug: str, *, lock: bool = False) -> Article:
    if "\x00" in slug or len(slug) > rules.SLUG_MAX:
        raise NotFound("article not found", field=("slug",))
    stmt = select(Article).where(Article.slug == slug)
    article = await session.scalar(stmt.with_for_update() if lock else stmt)
    if article is None:
        raise NotFound("article not found", field=("slug",))
    return article


async def _owned(session: AsyncSession, *, slug: str, user_id: int, lock: bool) -> Article:
    article = await get_existing(session, slug, lock=lock)
    if article.author_id != user_id:
        raise Forbidden("only the author may change this article")
    return article


async def _free_slug(session: AsyncSession, title: str, *, except_id: int | None = None) -> str:
    """The title's slug, with the smallest numeric suffix that makes it unique."""
    base = slugify(title, allow_unicode=True, max_length=240, word_boundary=True) or "article"
    stmt = select(Article.slug).where(
        (Article.slug == base) | Article.slug.startswith(f"{base}-", autoescape=True)
    )
    if except_id is not None:
        stmt = stmt.where(Article.id != except_id)
    taken = set((await session.scalars(stmt)).all())
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


async def _save_with_unique_slug(
    session: AsyncSession,
    title: str,
    statement: Callable[[str], Executable],
    *,
    except_id: int | None = None,
) -> Article:
    """Run the INSERT/UPDATE with a free slug; if a concurrent writer takes it first, retry."""
    slug = await _free_slug(session, title, except_id=except_id)
    for _ in range(5):
        try:
            async with session.begin_nested():
                article: Article = (await session.scalars(statement(slug))).one()
                return article
        except IntegrityError:
            slug = f"{slug}-{secrets.token_hex(3)}"
    raise Conflict("could not find a free slug for this title", field=("title",))
