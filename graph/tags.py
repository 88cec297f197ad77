"""Tags and the `tags` query."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import strawberry

import db.tags
from graph import pagination
from graph.batch import at_root, batched
from graph.context import Context, Info


@strawberry.type(description="A tag and how much it is used.")
class Tag:
    name: str = strawberry.field(description="The tag's name, unique; what ArticleFilter.tag takes.")
    article_count: int = strawberry.field(description="How many articles carry this tag.")


async def find_tags(context: Context, *, first: int | None = None) -> list[Tag]:
    limit = pagination.page_size(first)
    found = await context.read(partial(db.tags.list_tags, limit=limit))
    return [Tag(name=tag.name, article_count=tag.article_count) for tag in found]


@strawberry.type
class TagQueries:
    @strawberry.field(description="The most used tags, most used first (ties: the tag first used earliest).")
    @batched(at_root(find_tags))
    async def tags(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(
                description=f"How many tags, between 0 and {pagination.MAX_PAGE_SIZE} (outside is "
                f"BAD_USER_INPUT); {pagination.DEFAULT_PAGE_SIZE} when null."
            ),
        ] = None,
    ) -> list[Tag]: ...
