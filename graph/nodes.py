"""The `node`/`nodes` root fields: the one module that knows every Node type."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry

from graph.articles import Article
from graph.batch import at_root, batched
from graph.comments import Comment
from graph.context import Context, Info
from graph.node import Node, from_global_id
from graph.users import User, find_viewer


async def find_node(context: Context, *, id: strawberry.ID) -> Node | None:
    """The object a global ID names, through the loader of its type; None if there is none."""
    return await _load_node(context, from_global_id(id))


async def find_nodes(context: Context, *, ids: list[strawberry.ID]) -> list[Node | None]:
    # Every ID is decoded before any load starts: a bad one must not leave loads running.
    decoded = [from_global_id(i) for i in ids]
    return list(await asyncio.gather(*(_load_node(context, d) for d in decoded)))


async def _load_node(context: Context, decoded: tuple[str, int] | None) -> Node | None:
    if decoded is None:
        return None
    type_name, pk = decoded
    loaders = context.loaders
    if type_name == "User":
        user = await loaders.user_by_id.load(pk)
        return User.from_row(user) if user else None
    if type_name == "Article":
        article = await loaders.article_by_id.load(pk)
        return Article.from_row(article) if article else None
    if type_name == "Comment":
        comment = await loaders.comment_by_id.load(pk)
        return Comment.from_row(comment) if comment else None
    if type_name == "Viewer" and pk == context.viewer_id:  # a viewer is seen by themselves alone
        return await find_viewer(context)
    return None


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Fetches any object by its global ID; null when it does not exist.")
    @batched(at_root(find_node))
    async def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="A global ID, as an `id` field gave it; one that is not base64 is "
                "BAD_USER_INPUT. A Viewer's ID names something only for that viewer."
            ),
        ],
    ) -> Node | None: ...

    @strawberry.field(
        description="Fetches objects by global ID, in the same order; null for the missing ones."
    )
    @batched(at_root(find_nodes))
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description="Global IDs, as `id` fields gave them; each counts toward the "
                "operation's cost. One that is not base64 fails the whole field (BAD_USER_INPUT)."
            ),
        ],
    ) -> list[Node | None]: ...
