"""The `node`/`nodes` root fields: the one module that knows every Node type."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader

import db.articles
import db.comments
import db.users
from db.sql.demand import Demand
from graph.articles import Article
from graph.batch import at_root, batched
from graph.comments import Comment
from graph.context import Context, Info
from graph.loaders import Loaders, load_all
from graph.node import Node, from_global_id
from graph.selection import Selected, demand_of
from graph.users import User, find_viewer


async def find_node(context: Context, *, id: strawberry.ID, selected: Selected | None = None) -> Node | None:
    """The object a global ID names; None if there is none."""
    [found] = await find_nodes(context, ids=[id], selected=selected)
    return found


async def find_nodes(
    context: Context, *, ids: list[strawberry.ID], selected: Selected | None = None
) -> list[Node | None]:
    """The objects the IDs name, in order: one read per type among them, showing what the
    query selects (through the loaders on the per-object path)."""
    # Every ID is decoded before any read starts: a bad one must not leave reads running.
    decoded = [from_global_id(i) for i in ids]
    wanted: dict[str, list[int]] = {}
    for named in decoded:
        if named is not None and named[0] in _READS:
            wanted.setdefault(named[0], []).append(named[1])
    found: dict[tuple[str, int], Node] = {}
    for type_name, pks in wanted.items():
        cls, read, loader = _READS[type_name]
        if selected is None:
            rows = dict(zip(pks, await load_all(loader(context.loaders), pks), strict=True))
        else:
            demand = demand_of(cls, selected)
            rows = await context.read(_reading(read, pks, demand, context.viewer_id))
        found.update({(type_name, pk): cls.from_row(row) for pk, row in rows.items() if row is not None})
    viewer_id = context.viewer_id
    if viewer_id is not None and ("Viewer", viewer_id) in decoded:  # a viewer is seen by themselves alone
        viewer = await find_viewer(context, selected)
        if viewer is not None:
            found["Viewer", viewer_id] = viewer
    return [None if named is None else found.get(named) for named in decoded]


def _reading(read: Any, pks: list[int], demand: Demand, viewer_id: int | None) -> Any:
    return lambda reader: read(reader, pks, demand, viewer_id=viewer_id)


_READS: dict[str, tuple[Any, Any, Callable[[Loaders], DataLoader[int, Any]]]] = {
    "User": (User, db.users.users_by_id, attrgetter("user_by_id")),
    "Article": (Article, db.articles.articles_by_id, attrgetter("article_by_id")),
    "Comment": (Comment, db.comments.comments_by_id, attrgetter("comment_by_id")),
}
"""Each Node type: its class, its read by ids (with a demand) and its loader."""


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
