"""The payload of a deletion (deleteArticle, deleteComment): what was removed, and what changed.

Here, not with one aggregate: articles and comments are both deleted with it. A normalized
client cache cannot tell from a missing object that it is gone, so the payload names every
object the deletion removed (`deletedIds`, for the client to evict) and returns, as they are
now, the objects whose fields changed with it: the author of a deleted article (its
`articlesCount`), the article of a deleted comment (its `commentsCount`).
"""

from __future__ import annotations

import strawberry

from graph.articles import Article
from graph.errors import PAYLOAD_ERRORS, UserError
from graph.users import User


@strawberry.type(description="The result of deleteArticle and deleteComment.")
class DeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The global ID of what was deleted; null when errors is not empty."
    )
    deleted_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="The global IDs of every object the deletion removed, for a client cache to "
        "evict: deleteArticle's article then each of its comments, oldest first; deleteComment's "
        "comment. Empty when errors is not empty.",
    )
    author: User | None = strawberry.field(
        default=None,
        description="For deleteArticle, the article's author as now (their `articlesCount` and "
        "`articles` changed); null for deleteComment and when errors is not empty.",
    )
    article: Article | None = strawberry.field(
        default=None,
        description="For deleteComment, the article the comment was on, as now (its `commentsCount` "
        "and `comments` changed); null for deleteArticle and when errors is not empty.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=PAYLOAD_ERRORS)
