"""Tags and the ordered links between tags and articles."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Dialect, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import UserDefinedType

from db.models import ArticleTag, Tag
from db.sql.fetch import Reader, fetch
from db.sql.paging import Query
from db.sql.statements import any_of, insert_ignoring_duplicates


@dataclass(frozen=True, slots=True)
class TagCount:
    name: str
    article_count: int


_LINKS = ArticleTag.__table__
_TAGS = Tag.__table__
_NAMES = (
    select(_LINKS.c.article_id, _TAGS.c.name)
    .join(_TAGS, _TAGS.c.id == _LINKS.c.tag_id)
    .where(any_of(_LINKS.c.article_id))
    .order_by(_LINKS.c.article_id, _LINKS.c.position)
)


class _NameList(UserDefinedType[list[str]]):
    """A list of names as each engine returns it: a PostgreSQL array arrives as a list (no
    Python call per value), SQLite's JSON array text is decoded."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TEXT"

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name == "postgresql":
            return None
        return lambda value: None if value is None else json.loads(value)


class TagNames(ColumnElement[list[str]]):
    """An article's tag names in the author's order, read with the article itself: the tags
    come in the same statement as the articles instead of a statement of their own.

    PostgreSQL builds an ARRAY(subquery) per article row; SQLite (3.40 has no ordered
    aggregate) a JSON array of the names read in order by a subquery.
    """

    inherit_cache = True
    _traverse_internals = [("article_id", InternalTraversal.dp_clauseelement)]
    type = _NameList()

    def __init__(self, article_id: ColumnElement[int]) -> None:
        self.article_id = article_id


def _ordered_names(element: TagNames, compiler: SQLCompiler, **kw: Any) -> str:
    names = (
        select(_TAGS.c.name)
        .join_from(_LINKS, _TAGS, _TAGS.c.id == _LINKS.c.tag_id)
        .where(_LINKS.c.article_id == element.article_id)
        .order_by(_LINKS.c.position)
        .correlate(element.article_id.table)
    )
    return compiler.process(names.scalar_subquery(), **kw)


@compiles(TagNames)
def _json_array_of_names(element: TagNames, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(SELECT json_group_array(name) FROM {_ordered_names(element, compiler, **kw)})"


@compiles(TagNames, "postgresql")
def _array_of_names(element: TagNames, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ARRAY{_ordered_names(element, compiler, **kw)}"


def article_ids_with_tag(name: str | ColumnElement[str]) -> Query:
    """A subquery of the ids of the articles carrying the tag `name` (a value or a parameter)."""
    return select(ArticleTag.article_id).join(Tag, Tag.id == ArticleTag.tag_id).where(Tag.name == name)


async def names_by_article_id(reader: Reader, article_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each article's tag names in the author's order; articles without tags are absent."""
    names: dict[int, list[str]] = defaultdict(list)
    for article_id, name in await fetch(reader, _NAMES, {"ids": article_ids}):
        names[article_id].append(name)
    return names


async def replace(session: AsyncSession, *, article_id: int, names: list[str]) -> None:
    """Make `names` (already cleaned) the article's tags, in that order."""
    await session.execute(delete(ArticleTag).where(ArticleTag.article_id == article_id))
    if not names:
        return
    await insert_ignoring_duplicates(session, Tag, [{"name": name} for name in names])
    ids = dict((await session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))).all())
    await session.execute(
        insert(ArticleTag),
        [
            {"article_id": article_id, "tag_id": ids[name], "position": position}
            for position, name in enumerate(names)
        ],
    )


_USAGE = func.count(ArticleTag.article_id)
_MOST_USED = (
    select(Tag.name, _USAGE)
    .join(ArticleTag, ArticleTag.tag_id == Tag.id)
    .group_by(Tag.id, Tag.name)
    .order_by(_USAGE.desc(), Tag.id)
    .limit(bindparam("limit"))
)


async def list_tags(reader: Reader, *, limit: int) -> list[TagCount]:
    """The most used tags, most used first; tags no article carries are left out."""
    return [TagCount(name, count) for name, count in await fetch(reader, _MOST_USED, {"limit": limit})]
