"""Tags and the ordered links between tags and articles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ArticleTag, Tag
from db.paging import Query
from db.statements import insert_ignoring_duplicates


@dataclass(frozen=True, slots=True)
class TagCount:
    name: str
    article_count: int


def article_ids_with_tag(name: str) -> Query:
    """A subquery of the ids of the articles carrying the tag `name`."""
    return select(ArticleTag.article_id).join(Tag, Tag.id == ArticleTag.tag_id).where(Tag.name == name)


async def names_by_article_id(session: AsyncSession, article_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each article's tag names in the author's order; articles without tags are absent."""
    rows = await session.execute(
        select(ArticleTag.article_id, Tag.name)
        .join(Tag, Tag.id == ArticleTag.tag_id)
        .where(ArticleTag.article_id.in_(article_ids))
        .order_by(ArticleTag.article_id, ArticleTag.position)
    )
    names: dict[int, list[str]] = defaultdict(list)
    for article_id, name in rows:
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


async def list_tags(session: AsyncSession, *, limit: int) -> list[TagCount]:
    """The most used tags, most used first; tags no article carries are left out."""
    count = func.count(ArticleTag.article_id)
    rows = await session.execute(
        select(Tag.name, count)
        .join(ArticleTag, ArticleTag.tag_id == Tag.id)
        .group_by(Tag.id, Tag.name)
        .order_by(count.desc(), Tag.id)
        .limit(limit)
    )
    return [TagCount(name, article_count) for name, article_count in rows]
