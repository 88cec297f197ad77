"""Articles, read (by slug or id, the filtered list, pages per author, counts; as records, an
`ArticleRow`) and written (create, update, delete, each with its tags; on the ORM `Article`
`get_existing` locks, which shows as an `ArticleRow` too); tags are in db/tags.py, slugs in
db/slugs.py, favorites in db/favorites.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import ColumnElement, FromClause, String, bindparam, delete, func, insert, select
from sqlalchemy import update as update_
from sqlalchemy.ext.asyncio import AsyncSession

from db import rules, slugs, tags
from db.errors import Conflict, Forbidden, Invalid, NotFound
from db.models import Article, Comment, Favorite, User, utc_now
from db.rows import ArticleRow
from db.shown import ARTICLES
from db.sql.demand import Demand, shown
from db.sql.fetch import Reader, fetch
from db.sql.paging import ParentPages, Query, Shape, Slice, Window, cut, windowed
from db.sql.statements import any_of, counts_by


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Narrowing of the global list; given parts combine with AND."""

    tag: str | None = None
    author: str | None = None
    favorited_by: str | None = None


_ARTICLES = Article.__table__
NEWEST_FIRST = (_ARTICLES.c.created_at, _ARTICLES.c.id)


@lru_cache(maxsize=512)
def _lookup(by: str, demand: Demand | None, anonymous: bool) -> Query:
    """Articles by slug or by ids, showing what `demand` asks (db/shown.py)."""
    view = shown(ARTICLES, demand, anonymous)
    condition = view.row.c.slug == bindparam("slug") if by == "slug" else any_of(view.row.c.id)
    return view.select().where(condition)


async def get_by_slug(
    reader: Reader, slug: str, demand: Demand | None = None, *, viewer_id: int | None = None
) -> ArticleRow | None:
    if not rules.comparable(slug):
        return None
    found: list[ArticleRow] = await fetch(
        reader, _lookup("slug", demand, viewer_id is None), {"slug": slug, "viewer_id": viewer_id}
    )
    return found[0] if found else None


async def articles_by_id(
    reader: Reader, article_ids: Sequence[int], demand: Demand | None = None, *, viewer_id: int | None = None
) -> dict[int, ArticleRow]:
    stmt = _lookup("ids", demand, viewer_id is None)
    found: list[ArticleRow] = await fetch(reader, stmt, {"ids": article_ids, "viewer_id": viewer_id})
    return {article.id: article for article in found}


def narrowing_values(narrowing: ArticleFilter) -> dict[str, str] | None:
    """The filter's given parts as statement parameters; None when no article can match."""
    given = {
        "tag": narrowing.tag,
        "author_key": narrowing.author,
        "fan_key": narrowing.favorited_by,
    }
    values = {name: value for name, value in given.items() if value is not None}
    if not all(rules.comparable(value) for value in values.values()):
        return None
    return {name: value if name == "tag" else rules.key(value) for name, value in values.items()}


def narrowed(articles: FromClause, parts: frozenset[str], prefix: str = "") -> list[ColumnElement[bool]]:
    """The conditions of the filter parts named in `parts` on `articles` (the table or an alias),
    their values bound when the statement runs, as `narrowing_values` names them (after `prefix`)."""
    conditions: list[ColumnElement[bool]] = []
    if "tag" in parts:
        tagged = tags.article_ids_with_tag(bindparam(f"{prefix}tag", type_=String()))
        conditions.append(articles.c.id.in_(tagged))
    if "author_key" in parts:
        author = select(User.id).where(User.username_key == bindparam(f"{prefix}author_key"))
        conditions.append(articles.c.author_id.in_(author.scalar_subquery()))
    if "fan_key" in parts:
        fan = select(User.id).where(User.username_key == bindparam(f"{prefix}fan_key"))
        favorited = select(Favorite.article_id).where(Favorite.user_id.in_(fan.scalar_subquery()))
        conditions.append(articles.c.id.in_(favorited))
    return conditions


def _filtered(stmt: Query, parts: frozenset[str], articles: FromClause = _ARTICLES) -> Query:
    """`stmt` narrowed by the filter parts named in `parts`, their values bound when it runs."""
    return stmt.where(*narrowed(articles, parts))


@lru_cache(maxsize=512)
def _listing(
    parts: frozenset[str], shape: Shape, demand: Demand | None, anonymous: bool, counted: bool
) -> Query:
    """Built once per filter, window shape and demand: building a statement costs more than
    running it. With `counted`, every row carries the whole list's length (`total_count`)."""
    view = shown(ARTICLES, demand, anonymous)
    stmt = _filtered(view.select(), parts)
    if counted:
        stmt = stmt.add_columns(_counting(parts).scalar_subquery().label("total_count"))
    return windowed(stmt, NEWEST_FIRST, descending=True, shape=shape)


@cache
def _counting(parts: frozenset[str]) -> Query:
    counted = _ARTICLES.alias("counted")
    return _filtered(select(func.count()).select_from(counted), parts, counted)


async def list_articles(
    reader: Reader,
    *,
    narrowing: ArticleFilter,
    window: Window,
    demand: Demand | None = None,
    viewer_id: int | None = None,
    counted: bool = False,
) -> Slice:
    """The global list, newest first; with `counted`, its length is read with the page."""
    values = narrowing_values(narrowing)
    if values is None:
        return Slice([], has_more=False, total=0 if counted else None)
    stmt = _listing(frozenset(values), window.shape, demand, viewer_id is None, counted)
    parameters = {**values, **window.parameters(), "viewer_id": viewer_id}
    return cut(await fetch(reader, stmt, parameters), window, counted=counted)


async def count_articles(reader: Reader, *, narrowing: ArticleFilter) -> int:
    values = narrowing_values(narrowing)
    if values is None:
        return 0
    [(count,)] = await fetch(reader, _counting(frozenset(values)), values)
    return int(count)


_AUTHOR_PAGES = ParentPages(ARTICLES, _ARTICLES.c.author_id, NEWEST_FIRST, descending=True)


async def pages_by_author_id(
    reader: Reader,
    author_ids: Sequence[int],
    window: Window,
    demand: Demand | None = None,
    *,
    viewer_id: int | None = None,
    counted: bool = False,
) -> dict[int, Slice]:
    """Each author's articles, newest first, all in one statement."""
    return await _AUTHOR_PAGES.read(reader, author_ids, window, demand, viewer_id=viewer_id, counted=counted)


_COUNTS_BY_AUTHOR = counts_by(_ARTICLES.c.author_id)


async def counts_by_author_id(reader: Reader, author_ids: Sequence[int]) -> dict[int, int]:
    return dict(await fetch(reader, _COUNTS_BY_AUTHOR, {"ids": author_ids}))


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
        lambda: rules.line(title, "title", max_length=rules.TITLE_MAX),
        lambda: rules.prose(description, "description", max_length=rules.DESCRIPTION_MAX),
        lambda: rules.prose(body, "body", max_length=rules.BODY_MAX),
        lambda: rules.tag_list(tag_list or []),
    )
    now = utc_now()
    values = {"title": title, "description": description, "body": body}
    article = await slugs.save_with_unique_slug(
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
    """Change what is given; absent keeps, `tag_list=[]` clears, `None` for any field is `Invalid`.

    With `expected_updated_at`, an update that lost the race to another is `Conflict`, also
    when the winner changed the title and with it the slug named: a slug the article had
    before (its history, `article_slugs`) sent with a version is `Conflict` (`Forbidden` for
    another author's article), as the article has changed since a read that showed that
    slug. Without a version a former slug is `NotFound`, like for reads: a write that checks
    nothing must not land on an article the client names by what it no longer is. A slug no
    article ever had is `NotFound` always.

    On PostgreSQL the losers of a race wait on the winner's row lock (FOR UPDATE); once it
    commits, their lookup re-checks the renamed row, finds no article with the old slug, and
    the history, read after the winner's commit, names the article. SQLite runs the units of
    work one at a time: the losers come after the winner and get the same answers.
    """
    try:
        article = await _owned(session, slug=slug, user_id=editor_id, lock=True)
    except NotFound:
        if expected_updated_at is not None:
            await _refuse_former_slug(session, slug, editor_id=editor_id)
        raise
    if expected_updated_at is not None and article.updated_at != expected_updated_at:
        raise _changed_since_read()
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
    # Strictly later than the version read, even if the clock stepped back: a second writer
    # holding the same `expected_updated_at` must find it changed.
    changes["updated_at"] = max(utc_now(), article.updated_at + timedelta(microseconds=1))
    statement = update_(Article).where(Article.id == article.id).returning(Article)
    if "title" not in changes or changes["title"] == article.title:
        return (await session.scalars(statement.values(changes))).one()
    return await slugs.save_with_unique_slug(
        session,
        changes["title"],
        lambda slug: statement.values({**changes, "slug": slug}),
        except_id=article.id,
    )


def _changed_since_read() -> Conflict:
    return Conflict("the article changed since you read it", field=("expected_updated_at",))


async def _refuse_former_slug(session: AsyncSession, slug: str, *, editor_id: int) -> None:
    """Raise for a slug that an existing article had once but has no longer: `Conflict` for
    the editor's own article, `Forbidden` for another author's. Returns for a slug that never
    named an article (or whose article is deleted): then it is `NotFound`."""
    if not rules.comparable(slug) or len(slug) > rules.SLUG_MAX:
        return
    author_id = await slugs.former_author_id(session, slug)
    if author_id is None:
        return
    if author_id != editor_id:
        raise Forbidden("only the author may change this article")
    raise _changed_since_read()


def _check_change(name: str, value: Any) -> Any:
    if value is None:
        raise Invalid("can't be null", field=(name,))
    if name == "title":
        return rules.line(value, "title", max_length=rules.TITLE_MAX)
    if name == "description":
        return rules.prose(value, "description", max_length=rules.DESCRIPTION_MAX)
    if name == "body":
        return rules.prose(value, "body", max_length=rules.BODY_MAX)
    return rules.tag_list(value)


@dataclass(frozen=True, slots=True)
class DeletedArticle:
    """What a deletion removed: the article and its comments (oldest first), for a client's cache."""

    id: int
    comment_ids: list[int]


async def delete_article(session: AsyncSession, *, editor_id: int, slug: str) -> DeletedArticle:
    """Remove the article with its comments, tag links and favorites.

    Its comments are listed once the article is locked: no comment can be added from then on
    (an insert takes the lock FOR KEY SHARE, which waits for this one)."""
    article = await _owned(session, slug=slug, user_id=editor_id, lock=True)
    comment_ids = await session.scalars(
        select(Comment.id).where(Comment.article_id == article.id).order_by(Comment.created_at, Comment.id)
    )
    deleted = DeletedArticle(id=article.id, comment_ids=list(comment_ids))
    await session.execute(delete(Article).where(Article.id == article.id))
    return deleted


async def get_existing(
    session: AsyncSession, slug: str, *, lock: bool = False, keep: bool = False
) -> Article:
    """The article, or `NotFound`. `lock` takes it for an update or a deletion.

    `keep` is for a write that adds a row referring to the article (a favorite, a comment):
    it takes now the lock the foreign key check would take at the insert (FOR KEY SHARE). A
    deletion in progress is then waited for here, and ends as `NotFound` instead of a foreign
    key violation. SQLite needs neither: its units of work run one at a time.
    """
    if not rules.comparable(slug) or len(slug) > rules.SLUG_MAX:
        raise NotFound("article not found", field=("slug",))
    stmt = select(Article).where(Article.slug == slug)
    if lock:
        stmt = stmt.with_for_update()
    elif keep:
        stmt = stmt.with_for_update(read=True, key_share=True)
    article = await session.scalar(stmt)
    if article is None:
        raise NotFound("article not found", field=("slug",))
    return article


async def _owned(session: AsyncSession, *, slug: str, user_id: int, lock: bool) -> Article:
    article = await get_existing(session, slug, lock=lock)
    if article.author_id != user_id:
        raise Forbidden("only the author may change this article")
    return article
