"""Comments: the type, its connection (`comment_pages`), the mutations and the subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Self

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

import db.articles
import db.comments
import db.events
import db.rules
from db.errors import DomainError, NotFound
from db.rows import ArticleRow, CommentRow, UserRow
from graph import pagination
from graph.articles import Article
from graph.batch import batched
from graph.context import Context, Info
from graph.deletions import DeletePayload
from graph.errors import PAYLOAD_ERRORS, BadUserInput, ServiceUnavailable, UserError, user_errors
from graph.loaders import load_all
from graph.node import Node, from_global_id, to_global_id
from graph.pagination import Connection, total_counts
from graph.selection import Selected
from graph.users import User, authors


async def commented_articles(comments: Sequence[Comment], context: Context) -> list[Article]:
    """The articles read with the comments (joined), else loaded."""
    missing = [c.article_id for c in comments if getattr(c.row, "article", None) is None]
    loaded = dict(zip(missing, await load_all(context.loaders.article_by_id, missing), strict=True))
    articles = []
    for comment in comments:
        row: ArticleRow | None = getattr(comment.row, "article", None)
        if row is None:
            row = loaded[comment.article_id]
            assert row is not None, "the comment's article is gone (deleted since the comment was read)"
        articles.append(Article.from_row(row))
    return articles


@strawberry.type(description="A comment on an article.")
class Comment(Node):
    row_id: strawberry.Private[int]
    author_id: strawberry.Private[int]
    article_id: strawberry.Private[int]
    body: str = strawberry.field(description=f"The text, 1 to {db.rules.COMMENT_MAX} characters.")
    created_at: datetime = strawberry.field(description="When it was added; lists sort on it.")
    updated_at: datetime = strawberry.field(description="When it last changed (comments are not edited yet).")
    row: strawberry.Private[CommentRow | None] = None
    """The row read, with what its read brought besides (graph/selection.py)."""
    author_row: strawberry.Private[UserRow | None] = None
    """The author, when read with the comment or known; None: load it."""

    @classmethod
    def from_row(cls, row: CommentRow, *, author: UserRow | None = None) -> Self:
        """The row has the columns its read was asked for (the others are None: the query
        selects none of their fields)."""
        return cls(
            row_id=row.id,
            author_id=row.author_id,
            article_id=row.article_id,
            body=getattr(row, "body", None),  # type: ignore[arg-type]
            created_at=row.created_at,
            updated_at=getattr(row, "updated_at", None),  # type: ignore[arg-type]
            row=row,
            author_row=getattr(row, "author", None) if author is None else author,
        )

    @strawberry.field(description="The user who wrote it.")
    @batched(authors, joined="author")
    async def author(self, info: Info) -> User: ...

    @strawberry.field(description="The article it is on.")
    @batched(commented_articles, joined="article")
    async def article(self, info: Info) -> Article: ...


@strawberry.type(description="A page of an article's comments (a Relay cursor connection), oldest first.")
class CommentConnection(Connection[Comment]):
    @strawberry.field(description="The number of comments on the article, not just on this page.")
    @batched(total_counts)
    async def total_count(self, info: Info) -> int: ...


async def comment_pages(
    articles: Sequence[Article],
    context: Context,
    first: int | None = None,
    after: str | None = None,
    selected: Selected | None = None,
) -> list[CommentConnection]:
    """Each article's comments, oldest first."""
    loaders = context.loaders
    return await pagination.connections(
        [article.row_id for article in articles],
        pagination.window(first, after),
        pagination.pages_of(
            context, Comment, db.comments.pages_by_article_id, selected, loaders.comments_page_by_article_id
        ),
        loaders.comments_count_by_article_id,
        partial(CommentConnection.from_slice, node=Comment.from_row),
    )


@strawberry.input(description="A new comment.")
class AddCommentInput:
    article_slug: str = strawberry.field(description="The slug of the article to comment on.")
    body: str = strawberry.field(description=f"The text, 1 to {db.rules.COMMENT_MAX} characters.")


@strawberry.type(description="The result of addComment.")
class CommentPayload:
    comment: Comment | None = strawberry.field(
        default=None, description="The new comment; null when errors is not empty."
    )
    article: Article | None = strawberry.field(
        default=None,
        description="The article commented on, as now (its `commentsCount` and `comments` "
        "changed); null when errors is not empty.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=PAYLOAD_ERRORS)


@strawberry.type
class CommentMutations:
    @strawberry.mutation(
        description="Adds a comment by the viewer; subscribers of commentAdded hear of it once committed."
    )
    async def add_comment(
        self, info: Info, input: Annotated[AddCommentInput, strawberry.argument(description="The comment.")]
    ) -> CommentPayload:
        context = info.context
        try:
            async with context.unit_of_work() as work:
                row = await db.comments.create(
                    work.session, author_id=work.viewer_id, article_slug=input.article_slug, body=input.body
                )
                # In the transaction: subscribers hear of the comment only once it is committed.
                await context.services.events.publish(
                    work.session, article_id=row.article_id, comment_id=row.id
                )
                article = await _article_in(work.session, row.article_id)
        except DomainError as error:
            return CommentPayload(errors=user_errors(error))
        return CommentPayload(
            comment=Comment.from_row(row, author=work.author),
            article=Article.from_row(article) if article else None,
        )

    @strawberry.mutation(description="Deletes one of the viewer's comments; FORBIDDEN for another's.")
    async def delete_comment(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The comment's global ID.")],
    ) -> DeletePayload:
        context = info.context
        try:
            async with context.unit_of_work() as work:
                decoded = from_global_id(id)
                if decoded is None or decoded[0] != "Comment":
                    raise NotFound("comment not found", field=("id",))
                article_id = await db.comments.delete_comment(
                    work.session, editor_id=work.viewer_id, comment_id=decoded[1]
                )
                article = await _article_in(work.session, article_id)
        except DomainError as error:
            return DeletePayload(errors=user_errors(error, ()))
        deleted = strawberry.ID(to_global_id("Comment", decoded[1]))
        return DeletePayload(
            deleted_id=deleted,
            deleted_ids=[deleted],
            article=Article.from_row(article) if article else None,
        )


async def _article_in(session: AsyncSession, article_id: int) -> ArticleRow | None:
    """The article a comment write changed, read in the write's transaction. Through the
    request's loaders it would be read on a connection of its own, which on SQLite kept the
    in-process subscribers from hearing of the comment (tests/transport/test_sse.py)."""
    return (await db.articles.articles_by_id(session, [article_id])).get(article_id)


@strawberry.type
class CommentSubscriptions:
    @strawberry.subscription(
        description="Each comment added to the article from now on, as it is committed "
        "(from any server process)."
    )
    async def comment_added(
        self,
        info: Info,
        article_slug: Annotated[str, strawberry.argument(description="The slug of the article to watch.")],
    ) -> AsyncGenerator[Comment, None]:
        database = info.context.database
        events = info.context.services.events
        async with database.read_session() as session:
            article = await db.articles.get_by_slug(session, article_slug)
            if article is None:
                raise BadUserInput(f"no article has the slug {article_slug[:100]!r}")
            after_id = await db.events.last_comment_id(session, article.id)
        try:
            await events.ready()
        except db.events.ListenerUnavailable as error:
            raise ServiceUnavailable(str(error)) from None
        seen: set[int] = set()
        async with events.listen(article.id) as comment_ids:
            while True:
                wanted = [await comment_ids.get()]
                while not comment_ids.empty():
                    wanted.append(comment_ids.get_nowait())
                async with database.read_session() as session:
                    if db.events.RESYNC in wanted:
                        missed = await db.events.comment_ids_since(session, article.id, after_id)
                        wanted = [*missed, *wanted]
                    wanted = [i for i in dict.fromkeys(wanted) if i != db.events.RESYNC and i not in seen]
                    found = await db.comments.comments_by_id(session, wanted)
                # The socket's context lives long: its loaders must not serve stale rows.
                info.context.forget_loaded()
                for comment_id in wanted:
                    seen.add(comment_id)
                    if comment_id in found:
                        yield Comment.from_row(found[comment_id])
