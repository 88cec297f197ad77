"""The article mutations: create, update, delete, favorite and unfavorite, and their inputs
and payload.

Each payload carries every object its mutation changed, with its `id`, for normalized client
caches: the article (whose `author` is the writer, with `articlesCount`), or for a deletion
what was removed and the author as now (graph/deletions.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

import db.articles
import db.favorites
import db.rules
from db.errors import DomainError
from graph.arguments import Slug
from graph.articles import Article
from graph.batch import batched
from graph.context import Info
from graph.deletions import DeletePayload
from graph.errors import PAYLOAD_ERRORS, UserError, user_errors
from graph.node import to_global_id
from graph.users import User, Viewer, viewers_of_payloads

_TAGS = (
    f"Tag names in the order given, at most {db.rules.TAGS_MAX} of 1 to {db.rules.TAG_MAX} "
    "characters each; duplicates and blank names are dropped"
)
_KEEP = "Absent keeps the current value; null is INVALID"


@strawberry.input(description="A new article by the viewer.")
class CreateArticleInput:
    title: str = strawberry.field(
        description=f"1 to {db.rules.TITLE_MAX} characters; the slug is made from it."
    )
    description: str = strawberry.field(description=f"1 to {db.rules.DESCRIPTION_MAX} characters.")
    body: str = strawberry.field(description=f"1 to {db.rules.BODY_MAX} characters.")
    tag_list: list[str] | None = strawberry.field(default=None, description=f"{_TAGS}; null for none.")


@strawberry.input(description="Changes to one of the viewer's articles; only the fields given change.")
class UpdateArticleInput:
    slug: str = strawberry.field(description="The article's current slug.")
    title: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}. Rules as in CreateArticleInput; a new title gives a new slug."
    )
    description: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}. Rules as in CreateArticleInput."
    )
    body: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}. Rules as in CreateArticleInput."
    )
    tag_list: strawberry.Maybe[list[str] | None] = strawberry.field(
        description=f"{_KEEP}; [] removes every tag. {_TAGS}."
    )
    expected_updated_at: datetime | None = strawberry.field(
        default=None,
        description="When given, the update is refused with CONFLICT unless the article's "
        "updatedAt still equals it.",
    )


@strawberry.type(description="The result of an article mutation.")
class ArticlePayload:
    article: Article | None = strawberry.field(
        default=None,
        description="The article as now (its `author` is the writer); null when errors is not empty.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=PAYLOAD_ERRORS)

    @strawberry.field(
        description="The viewer who made the change, as now (favoriteArticle and "
        "unfavoriteArticle change their `user.favorites`); null when errors is not empty."
    )
    @batched(viewers_of_payloads)
    async def viewer(self, info: Info) -> Viewer | None: ...


@strawberry.type
class ArticleMutations:
    @strawberry.mutation(description="Publishes an article by the viewer.")
    async def create_article(
        self,
        info: Info,
        input: Annotated[CreateArticleInput, strawberry.argument(description="The article.")],
    ) -> ArticlePayload:
        context = info.context
        try:
            async with context.unit_of_work() as work:
                row = await db.articles.create(
                    work.session,
                    author_id=work.viewer_id,
                    title=input.title,
                    description=input.description,
                    body=input.body,
                    tag_list=input.tag_list,
                )
        except DomainError as error:
            return ArticlePayload(errors=user_errors(error))
        # What the transaction wrote, shown without reading it back: a new article's tags as
        # given (cleaned as `create` cleaned them), its author, no favorites yet.
        context.loaders.favorites_count_by_article_id.prime(row.id, 0)
        context.loaders.favorited_by_article_id.prime(row.id, False)
        tag_names = db.rules.tag_list(input.tag_list or [])
        return ArticlePayload(article=Article.from_row(row, tag_names=tag_names, author=work.author))

    @strawberry.mutation(description="Changes one of the viewer's articles; FORBIDDEN for another's.")
    async def update_article(
        self,
        info: Info,
        input: Annotated[
            UpdateArticleInput, strawberry.argument(description="Which article, what to change.")
        ],
    ) -> ArticlePayload:
        context = info.context
        changes = {
            name: given.value
            for name in ("title", "description", "body", "tag_list")
            if (given := getattr(input, name)) is not None
        }
        try:
            async with context.unit_of_work() as work:
                row = await db.articles.update(
                    work.session,
                    editor_id=work.viewer_id,
                    slug=input.slug,
                    expected_updated_at=input.expected_updated_at,
                    **changes,
                )
        except DomainError as error:
            return ArticlePayload(errors=user_errors(error))
        return ArticlePayload(article=Article.from_row(row))

    @strawberry.mutation(
        description="Deletes one of the viewer's articles with its comments, tags and favorites; "
        "FORBIDDEN for another's."
    )
    async def delete_article(self, info: Info, slug: Slug) -> DeletePayload:
        context = info.context
        try:
            async with context.unit_of_work() as work:
                deleted = await db.articles.delete_article(work.session, editor_id=work.viewer_id, slug=slug)
        except DomainError as error:
            return DeletePayload(errors=user_errors(error, ()))
        article_id = strawberry.ID(to_global_id("Article", deleted.id))
        comment_ids = [strawberry.ID(to_global_id("Comment", pk)) for pk in deleted.comment_ids]
        author = work.author or await context.loaders.user_by_id.load(work.viewer_id)
        return DeletePayload(
            deleted_id=article_id,
            deleted_ids=[article_id, *comment_ids],
            author=User.from_row(author) if author else None,
        )

    @strawberry.mutation(description="The viewer favorites the article; idempotent.")
    async def favorite_article(self, info: Info, slug: Slug) -> ArticlePayload:
        return await _change_favorite(info, slug, db.favorites.favorite)

    @strawberry.mutation(description="The viewer no longer favorites the article; idempotent.")
    async def unfavorite_article(self, info: Info, slug: Slug) -> ArticlePayload:
        return await _change_favorite(info, slug, db.favorites.unfavorite)


async def _change_favorite(info: Info, slug: str, change: Any) -> ArticlePayload:
    context = info.context
    try:
        async with context.unit_of_work() as work:
            row = await change(work.session, user_id=work.viewer_id, slug=slug)
    except DomainError as error:
        return ArticlePayload(errors=user_errors(error, ()))
    return ArticlePayload(article=Article.from_row(row))
