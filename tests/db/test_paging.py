"""`windowed_per_parent`: a window over every parent's list in one statement.

Its two forms (LATERAL on PostgreSQL, ROW_NUMBER() everywhere) must select the same rows in
the same order, and those must be what a plain Python reading of the lists selects. Checked
on comments (each article's, oldest first) and favorites (each user's, most recent first),
with many ties in the sort keys so that the id decides.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

import db.articles
import db.comments
import db.favorites
from db.models import Article, Comment, Favorite, User
from db.sql.demand import Demand
from db.sql.engine import Database
from db.sql.paging import Key, Query, Shape, Window
from db.sql.statements import records
from graph.app import create_app
from tests.support.engines import empty_tables, settings_for

START = datetime(2026, 1, 1, tzinfo=UTC)
ARTICLES = 24
USERS = 12
COMMENTS_PER_ARTICLE = [0, 1, 2, 3, 4, 5, 8, 13]


@dataclass
class Lists:
    """Each parent's list as keys (sort value, id), for a brute-force reading."""

    comments: dict[int, list[Key]]
    favorites: dict[int, list[Key]]
    article_ids: list[int]
    user_ids: list[int]


def at(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


async def seed(database: Database) -> Lists:
    """Rows inserted in shuffled order, so ids do not follow the timestamps, which repeat."""
    shuffle = random.Random(20261123).shuffle
    async with database.unit_of_work() as session:
        users = [
            {
                "username": f"user{number}",
                "username_key": f"user{number}",
                "email": f"user{number}@example.com",
                "email_key": f"user{number}@example.com",
                "password_hash": "not a hash",
            }
            for number in range(USERS)
        ]
        user_ids = list(await session.scalars(insert(User).returning(User.id), users))
        articles = [
            {
                "slug": f"article-{number}",
                "title": f"Article {number}",
                "description": "d",
                "body": "b",
                "author_id": user_ids[number % USERS],
                "created_at": at(number),
                "updated_at": at(number),
            }
            for number in range(ARTICLES)
        ]
        article_ids = list(await session.scalars(insert(Article).returning(Article.id), articles))
        comments = [
            {
                "body": f"comment {number} on {article_id}",
                "article_id": article_id,
                "author_id": user_ids[number % USERS],
                "created_at": at(number % 3),
                "updated_at": at(0),
            }
            for index, article_id in enumerate(article_ids)
            for number in range(COMMENTS_PER_ARTICLE[index % len(COMMENTS_PER_ARTICLE)])
        ]
        shuffle(comments)
        comment_rows = await session.execute(
            insert(Comment).returning(Comment.id, Comment.article_id, Comment.created_at), comments
        )
        pick = random.Random(7)
        favorites: list[dict[str, Any]] = [
            {"user_id": user_id, "article_id": article_id, "created_at": at(pick.randrange(3))}
            for index, user_id in enumerate(user_ids)
            for article_id in pick.sample(article_ids, index * 2 % 15)
        ]
        shuffle(favorites)
        await session.execute(insert(Favorite), favorites)
        comment_lists: dict[int, list[Key]] = defaultdict(list)
        for comment_id, article_id, created_at in comment_rows:
            comment_lists[article_id].append((created_at, comment_id))
    favorite_lists: dict[int, list[Key]] = defaultdict(list)
    for favorite in favorites:
        favorite_lists[favorite["user_id"]].append((favorite["created_at"], favorite["article_id"]))
    return Lists(dict(comment_lists), dict(favorite_lists), article_ids, user_ids)


@dataclass
class Seeded:
    database: Database
    lists: Lists
    lateral: bool
    """Whether the database runs the LATERAL form too."""


@pytest.fixture(scope="module")
async def seeded(migrated_url: str) -> AsyncIterator[Seeded]:
    """The lists, made once per engine for the module: the tests only read them."""
    app = create_app(settings_for(migrated_url))
    async with app.router.lifespan_context(app):
        await empty_tables(app)
        database: Database = app.state.services.database
        yield Seeded(database, await seed(database), database.engine.dialect.name == "postgresql")
        await empty_tables(app)


@dataclass(frozen=True)
class Listing:
    """One kind of per-parent list: how it is built, ordered, and whose lists it reads."""

    name: str
    pages: Callable[..., Query]
    descending: bool
    parents: Callable[[Lists], list[int]]
    lists: Callable[[Lists], dict[int, list[Key]]]


def some_of(ids: list[int]) -> list[int]:
    """Most parents, not all (the others' rows must stay out), and one that does not exist."""
    return [*ids[1::3], *ids[2::3], max(ids) + 100]


LISTINGS = [
    Listing(
        "comments",
        db.comments._PAGES.statement,
        descending=False,
        parents=lambda lists: some_of(lists.article_ids),
        lists=lambda lists: lists.comments,
    ),
    Listing(
        "favorites",
        db.favorites._FAVORITE_PAGES.statement,
        descending=True,
        parents=lambda lists: some_of(lists.user_ids),
        lists=lambda lists: lists.favorites,
    ),
]


def later(key: Key, than: Key, descending: bool) -> bool:
    """Whether `key` comes after `than` in a list so ordered."""
    return key < than if descending else key > than


def brute_force(listing: Listing, lists: Lists, window: Window) -> list[tuple[int, datetime, int]]:
    """(parent, sort, id) of the rows the statement should return, in its order."""
    rows = []
    for parent in sorted(listing.parents(lists)):
        keys = sorted(listing.lists(lists).get(parent, []), reverse=listing.descending)
        after, before = window.after, window.before
        if after is not None:
            keys = [key for key in keys if later(key, after, listing.descending)]
        if before is not None:
            keys = [key for key in keys if later(before, key, listing.descending)]
        if window.backward:
            keys.reverse()
        rows += [(parent, sort, id_) for sort, id_ in keys[: window.limit + 1]]
    return rows


@dataclass(frozen=True)
class Marks:
    """Keys to start or end windows at, in list order; made of an id from the middle of the
    lists and the repeated timestamps, they tie with many rows."""

    early: Key
    middle: Key
    late: Key

    @classmethod
    def of(cls, listing: Listing, lists: Lists) -> Marks:
        ids = sorted(id_ for keys in listing.lists(lists).values() for _, id_ in keys)
        mid = ids[len(ids) // 2]
        early, late = (at(2), mid), (at(0), mid)
        if not listing.descending:
            early, late = late, early
        return cls(early, (at(1), mid), late)


WINDOWS: dict[str, Callable[[Marks], Window]] = {
    "first 3": lambda _: Window(3),
    "first 0": lambda _: Window(0),
    "first 50": lambda _: Window(50),
    "last 3": lambda _: Window(3, backward=True),
    "first 2 after": lambda marks: Window(2, after=marks.middle),
    "first 4 before": lambda marks: Window(4, before=marks.middle),
    "last 2 before": lambda marks: Window(2, before=marks.middle, backward=True),
    "last 3 after": lambda marks: Window(3, after=marks.middle, backward=True),
    "first 3 between": lambda marks: Window(3, after=marks.early, before=marks.late),
    "last 2 between": lambda marks: Window(2, after=marks.early, before=marks.late, backward=True),
}


async def run(
    seeded: Seeded,
    listing: Listing,
    window: Window,
    lateral: bool,
    demand: Demand | None = None,
    counted: bool = False,
) -> list[Any]:
    stmt = listing.pages(window.shape, lateral, demand, True, counted)
    parameters: dict[str, Any] = {"ids": listing.parents(seeded.lists), **window.parameters()}
    async with seeded.database.read_session() as session:
        return records(await session.execute(stmt, parameters))


def shown_fields(row: Any) -> dict[str, Any]:
    """Every column of a row but the ROW_NUMBER() form's rank."""
    fields: dict[str, Any] = row._asdict()
    fields.pop("parent_rank", None)
    return fields


def shown(rows: list[Any]) -> list[tuple[int, datetime, int]]:
    return [(row.parent_id, row.page_sort, row.page_id) for row in rows]


@pytest.mark.parametrize("window_of", WINDOWS.values(), ids=WINDOWS.keys())
@pytest.mark.parametrize("listing", LISTINGS, ids=[listing.name for listing in LISTINGS])
async def test_each_form_selects_the_window_of_every_parent(
    seeded: Seeded, listing: Listing, window_of: Callable[[Marks], Window]
) -> None:
    window = window_of(Marks.of(listing, seeded.lists))
    expected = brute_force(listing, seeded.lists, window)
    assert expected, "a window that selects nothing proves little"
    ranked = await run(seeded, listing, window, lateral=False)
    assert shown(ranked) == expected
    assert all(row.id == row.page_id for row in ranked)
    if seeded.lateral:
        lateral = await run(seeded, listing, window, lateral=True)
        assert shown(lateral) == shown(ranked)
        assert [row.id for row in lateral] == [row.id for row in ranked]
        assert [shown_fields(row) for row in lateral] == [shown_fields(row) for row in ranked]


@pytest.mark.parametrize("listing", LISTINGS, ids=[listing.name for listing in LISTINGS])
async def test_rows_come_with_their_author_and_their_lists_length(seeded: Seeded, listing: Listing) -> None:
    """Asked for (a `Demand`), the rows bring their author, and `counted` each parent's whole
    list's length, which the window (a few rows) does not show."""
    shown = Demand(joined=frozenset({("author", Demand(columns=frozenset({"username"})))}))
    forms = [False, True] if seeded.lateral else [False]
    for lateral in forms:
        every = await run(seeded, listing, Window(10_000), lateral)
        lengths = Counter(row.parent_id for row in every)
        rows = await run(seeded, listing, Window(2), lateral, shown, counted=True)
        assert rows
        assert all(row.author is not None and row.author.id == row.author_id for row in rows)
        assert all(row.author.username for row in rows)
        assert {row.parent_id: row.total_count for row in rows} == {
            parent: lengths[parent] for parent in {row.parent_id for row in rows}
        }
        assert max(lengths.values()) > 2


async def test_windows_of_no_parents_are_empty(seeded: Seeded) -> None:
    forms = [False, True] if seeded.lateral else [False]
    for listing in LISTINGS:
        for lateral in forms:
            stmt = listing.pages(Shape(after=False, before=False, backward=False), lateral)
            async with seeded.database.read_session() as session:
                result = await session.execute(stmt, {"ids": [], **Window(3).parameters()})
                assert result.all() == []


async def test_comment_pages_cut_each_parents_window(seeded: Seeded) -> None:
    """Through the repository: one slice per parent asked for, in list order, with `has_more`."""
    lists = seeded.lists
    parents = some_of(lists.article_ids)
    for window in (Window(3), Window(3, backward=True)):
        async with seeded.database.read_session() as session:
            pages = await db.comments.pages_by_article_id(session, parents, window)
        assert list(pages) == parents
        for parent in parents:
            keys = sorted(lists.comments.get(parent, []))
            expected = keys[-3:] if window.backward else keys[:3]
            assert [(row.created_at, row.id) for row in pages[parent].rows] == expected
            assert pages[parent].has_more == (len(keys) > 3)


async def test_favorite_pages_cut_each_parents_window(seeded: Seeded) -> None:
    lists = seeded.lists
    parents = some_of(lists.user_ids)
    async with seeded.database.read_session() as session:
        pages = await db.favorites.favorites_pages_by_user_id(session, parents, Window(2))
    assert list(pages) == parents
    for parent in parents:
        keys = sorted(lists.favorites.get(parent, []), reverse=True)
        assert [(row.page_sort, row.id) for row in pages[parent].rows] == keys[:2]
        assert pages[parent].has_more == (len(keys) > 2)
