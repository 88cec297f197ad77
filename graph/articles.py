"""Articles: the type, its connection, the article queries, and the article lists hung on
users (`article_pages`, `favorite_pages`, `feeds`). The mutations are in
graph/article_mutations.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Self

import strawberry

import db.articles
import db.favorites
import db.feeds
import db.rules
from db.rows import ArticleRow, UserRow
from db.sql.demand import Demand
from graph import pagination
from graph.arguments import After, Before, First, Last, Slug
from graph.batch import at_root, batched, later
from graph.context import Context, Info
from graph.loaders import load_all
from graph.node import Node
from graph.pagination import Connection, total_counts
from graph.selection import Selected, demand_of, nodes_of
from graph.users import User, Viewer, authors

if TYPE_CHECKING:
    from graph.comments import CommentConnection

CommentConnectionType = Annotated["CommentConnection", strawberry.lazy("graph.comments")]


async def tag_lists(articles: Sequence[Article], context: Context) -> list[list[str]]:
    """Tags known already (a new article's) or loaded (the article was read without them)."""
    missing = [a.row_id for a in articles if a.tag_names is None]
    loaded = dict(zip(missing, await load_all(context.loaders.tags_by_article_id, missing), strict=True))
    return [loaded[a.row_id] if a.tag_names is None else a.tag_names for a in articles]


async def favorited_flags(articles: Sequence[Article], context: Context) -> list[bool]:
    """False without a viewer (the read leaves the flag out then: db/shown.py), with no loader."""
    if context.viewer_id is None:
        return [False] * len(articles)
    return await load_all(context.loaders.favorited_by_article_id, [a.row_id for a in articles])


async def favorites_counts(articles: Sequence[Article], context: Context) -> list[int]:
    loader = context.loaders.favorites_count_by_article_id
    return await load_all(loader, [a.row_id for a in articles])


async def comments_counts(articles: Sequence[Article], context: Context) -> list[int]:
    loader = context.loaders.comments_count_by_article_id
    return await load_all(loader, [a.row_id for a in articles])


@strawberry.type(description="An article: a post with a title, a summary, a body and tags.")
class Article(Node):
    row_id: strawberry.Private[int]
    author_id: strawberry.Private[int]
    slug: str = strawberry.field(
        description="Unique; made from the title (with a suffix when taken) and changed with it: "
        "a former slug then names nothing."
    )
    title: str = strawberry.field(description=f"1 to {db.rules.TITLE_MAX} characters, on one line.")
    description: str = strawberry.field(
        description=f"A short summary, 1 to {db.rules.DESCRIPTION_MAX} characters."
    )
    body: str = strawberry.field(
        description=f"The text as the author wrote it, 1 to {db.rules.BODY_MAX} characters."
    )
    created_at: datetime = strawberry.field(description="When it was published; lists sort on it.")
    updated_at: datetime = strawberry.field(
        description="When it last changed (equal to createdAt until then): what "
        "UpdateArticleInput.expectedUpdatedAt is compared with."
    )
    row: strawberry.Private[ArticleRow | None] = None
    """The row read, with what its read brought besides (graph/selection.py)."""
    tag_names: strawberry.Private[list[str] | None] = None
    """Known already (a new article's); None: read with the row, or loaded."""
    author_row: strawberry.Private[UserRow | None] = None
    """The author, when read with the article or known; None: load it."""

    @classmethod
    def from_row(
        cls, row: ArticleRow, *, tag_names: list[str] | None = None, author: UserRow | None = None
    ) -> Self:
        """`tag_names` and `author` when known already (a new article's), else read with the
        row or loaded. The row has the columns its read was asked for (the others are None:
        the query selects none of their fields)."""
        return cls(
            row_id=row.id,
            author_id=row.author_id,
            slug=getattr(row, "slug", None),  # type: ignore[arg-type]
            title=getattr(row, "title", None),  # type: ignore[arg-type]
            description=getattr(row, "description", None),  # type: ignore[arg-type]
            body=getattr(row, "body", None),  # type: ignore[arg-type]
            created_at=row.created_at,
            updated_at=getattr(row, "updated_at", None),  # type: ignore[arg-type]
            row=row,
            tag_names=tag_names,
            author_row=getattr(row, "author", None) if author is None else author,
        )

    @strawberry.field(description="Tag names in the order the author gave them.")
    @batched(tag_lists, read_with="tag_list")
    async def tag_list(self, info: Info) -> list[str]: ...

    @strawberry.field(
        description="Whether the signed-in viewer favorited this article; false for anonymous requests."
    )
    @batched(favorited_flags, read_with="favorited")
    async def favorited(self, info: Info) -> bool: ...

    @strawberry.field(description="How many users favorited it.")
    @batched(favorites_counts, read_with="favorites_count")
    async def favorites_count(self, info: Info) -> int: ...

    @strawberry.field(description="The user who wrote it.")
    @batched(authors, joined="author")
    async def author(self, info: Info) -> User: ...

    @strawberry.field(
        description="How many comments it has (what `comments { totalCount }` counts, as a field "
        "a normalized cache keeps on the article whatever page it holds)."
    )
    @batched(comments_counts, read_with="comments_count")
    async def comments_count(self, info: Info) -> int: ...

    @strawberry.field(description="Comments, oldest first.")
    @batched(later("graph.comments", "comment_pages"))
    async def comments(
        self, info: Info, first: First = None, after: After = None
    ) -> CommentConnectionType: ...


@strawberry.type(description="A page of a list of articles (a Relay cursor connection), in the list's order.")
class ArticleConnection(Connection[Article]):
    @strawberry.field(description="The number of articles in the whole connection, not just this page.")
    @batched(total_counts)
    async def total_count(self, info: Info) -> int: ...


async def article_pages(
    users: Sequence[User],
    context: Context,
    first: int | None = None,
    after: str | None = None,
    selected: Selected | None = None,
) -> list[ArticleConnection]:
    """Each user's articles, newest first."""
    loaders = context.loaders
    return await pagination.connections(
        [user.row_id for user in users],
        pagination.window(first, after),
        pagination.pages_of(
            context, Article, db.articles.pages_by_author_id, selected, loaders.articles_page_by_author_id
        ),
        loaders.articles_count_by_author_id,
        partial(ArticleConnection.from_slice, node=Article.from_row),
    )


async def favorite_pages(
    users: Sequence[User],
    context: Context,
    first: int | None = None,
    after: str | None = None,
    selected: Selected | None = None,
) -> list[ArticleConnection]:
    """Each user's favorites, most recently favorited first."""
    loaders = context.loaders
    return await pagination.connections(
        [user.row_id for user in users],
        pagination.window(first, after),
        pagination.pages_of(
            context,
            Article,
            db.favorites.favorites_pages_by_user_id,
            selected,
            loaders.favorites_page_by_user_id,
        ),
        loaders.favorites_count_by_user_id,
        partial(ArticleConnection.from_slice, node=Article.from_row, key=lambda row: (row.page_sort, row.id)),
    )


async def feeds(
    viewers: Sequence[Viewer],
    context: Context,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    selected: Selected | None = None,
) -> list[ArticleConnection]:
    """The feed of each viewer (there is only ever one per request)."""
    window = pagination.window(first, after, last, before)
    demand, counted = _articles_demand(selected)
    connections = []
    for viewer in viewers:
        follower_id = viewer.user.row_id
        read = partial(
            db.feeds.list_feed, follower_id=follower_id, window=window, demand=demand, counted=counted
        )
        page = await context.read(read)

        async def total(follower_id: int = follower_id) -> int:
            return await context.read(partial(db.feeds.count_feed, follower_id=follower_id))

        connections.append(
            ArticleConnection.from_slice(page, window, pagination.counter(page, total), node=Article.from_row)
        )
    return connections


def _articles_demand(selected: Selected | None) -> tuple[Demand | None, bool]:
    """What a list of articles reads for `selected`, and whether its length (None: the
    per-object path, which reads every column and counts on its own)."""
    if selected is None:
        return None, False
    return demand_of(Article, nodes_of(selected)), "totalCount" in selected


@strawberry.input(description="Narrows the global article list; given filters combine with AND.")
class ArticleFilter:
    tag: str | None = strawberry.field(default=None, description="Only articles carrying this tag.")
    author: str | None = strawberry.field(default=None, description="Only articles written by this username.")
    favorited_by: str | None = strawberry.field(
        default=None, description="Only articles favorited by this username."
    )


async def find_article(context: Context, *, slug: str, selected: Selected | None = None) -> Article | None:
    demand = None if selected is None else demand_of(Article, selected)
    row = await context.read(
        partial(db.articles.get_by_slug, slug=slug, demand=demand, viewer_id=context.viewer_id)
    )
    return Article.from_row(row) if row else None


async def find_articles(
    context: Context,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    filter: ArticleFilter | None = None,
    selected: Selected | None = None,
) -> ArticleConnection:
    """The global list, narrowed by `filter`."""
    window = pagination.window(first, after, last, before)
    narrowing = _narrowing(filter)
    demand, counted = _articles_demand(selected)
    read = partial(
        db.articles.list_articles,
        narrowing=narrowing,
        window=window,
        demand=demand,
        viewer_id=context.viewer_id,
        counted=counted,
    )
    page = await context.read(read)

    async def total() -> int:
        return await context.read(partial(db.articles.count_articles, narrowing=narrowing))

    return ArticleConnection.from_slice(page, window, pagination.counter(page, total), node=Article.from_row)


def _narrowing(filter: ArticleFilter | None) -> db.articles.ArticleFilter:
    if filter is None:
        return db.articles.ArticleFilter()
    return db.articles.ArticleFilter(tag=filter.tag, author=filter.author, favorited_by=filter.favorited_by)


@strawberry.type
class ArticleQueries:
    @strawberry.field(description="The article with this slug; null when there is none.")
    @batched(at_root(find_article))
    async def article(self, info: Info, slug: Slug) -> Article | None: ...

    @strawberry.field(description="All articles, newest first.")
    @batched(at_root(find_articles))
    async def articles(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            ArticleFilter | None,
            strawberry.argument(description="Only the articles that match; null (or {}) for all."),
        ] = None,
    ) -> ArticleConnection: ...
