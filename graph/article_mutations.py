"""The article mutations: create, update, delete, favorite and unfavorite, and their inputs
and payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

import db.articles
import db.favorites
import db.rules
from db.errors import DomainError
from graph.articles import Article
from graph.context import Info
from graph.errors import UserError, user_errors
from graph.node import DeletePayload, to_global_id


@strawberry.input
class CreateArticleInput:
    title: str
    description: str
    body: str
    tag_list: list[str] | None = None


@strawberry.input
class UpdateArticleInput:
    slug: str
    title: strawberry.Maybe[str | None]
    description: strawberry.Maybe[str | None]
    body: strawberry.Maybe[str | None]
    tag_list: strawberry.Maybe[list[str] | None]
    expected_updated_at: datetime | None = strawberry.field(
        default=None,
        description="When given, the update is refused with CONFLICT unless the article's "
        "updatedAt still equals it.",
    )


@strawberry.type
class ArticlePayload:
    article: Article | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ArticleMutations:
    @strawberry.mutation
    async def create_article(self, info: Info, input: CreateArticleInput) -> ArticlePayload:
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

    @strawberry.mutation
    async def update_article(self, info: Info, input: UpdateArticleInput) -> ArticlePayload:
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

    @strawberry.mutation
    async def delete_article(self, info: Info, slug: str) -> DeletePayload:
        context = info.context
        try:
            async with context.unit_of_work() as work:
                article_id = await db.articles.delete_article(
                    work.session, editor_id=work.viewer_id, slug=slug
                )
        except DomainError as error:
            return DeletePayload(errors=user_errors(error, ()))
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("Article", article_id)))

    @strawberry.mutation
    async def favorite_article(self, info: Info, slug: str) -> ArticlePayload:
        return await _change_favorite(info, slug, db.favorites.favorite)

    @strawberry.mutation
    async def unfavorite_article(self, info: Info, slug: str) -> ArticlePayload:
        return await _change_favorite(info, slug, db.favorites.unfavorite)


async def _change_favorite(info: Info, slug: str, change: Any) -> ArticlePayload:
    context = info.context
    try:
        async with context.unit_of_work() as work:
            row = await change(work.session, user_id=work.viewer_id, slug=slug)
    except DomainError as error:
        return ArticlePayload(errors=user_errors(error, ()))
    return ArticlePayload(article=Article.from_row(row))
