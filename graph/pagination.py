"""Cursor connections: the one generic `Connection`/`Edge`, page-size rules, the cursor codec
and the PageInfo of a slice.

Strawberry names a specialisation after its node type: `Edge[Article]` is `ArticleEdge`. A
connection is declared as a named subclass (`class ArticleConnection(Connection[Article])`) in
the module of its node type, so that a module importing that one can still name it lazily
(`strawberry.lazy`), which Strawberry resolves for a plain type but not inside a generic's
argument (strawberry issue #2433).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, Protocol, Self, TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from db.sql.paging import Key, Slice, Window
from graph.batch import batched
from graph.context import Info
from graph.errors import BadUserInput
from graph.loaders import PageKey, load_all
from graph.node import MAX_PK
from graph.selection import Selected, demand_of, nodes_of

C = TypeVar("C")
T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@strawberry.type(description="Where a page sits in its list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether items follow this page: ask again with `after: endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether items precede this page: ask again with `before: startCursor` where "
        "the list takes `last`/`before`."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item; null when the page is empty."
    )


def encode_cursor(key: Key) -> str:
    sort_value, pk = key
    return base64.urlsafe_b64encode(f"{sort_value.isoformat()}|{pk}".encode()).decode()


def decode_cursor(cursor: str) -> Key:
    """The key a cursor points at; `BadUserInput` for anything this server did not make.

    The time comes back in UTC and the id within the range of primary keys, so a forged
    cursor can neither overflow a query's parameter nor fall outside the dates Python converts.
    """
    try:
        sort_value, _, pk = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        moment = datetime.fromisoformat(sort_value)
        if moment.tzinfo is None or not (pk.isascii() and pk.isdigit() and len(pk) <= 10):
            raise ValueError(cursor)
        if int(pk) > MAX_PK:
            raise ValueError(cursor)
        return (moment.astimezone(UTC), int(pk))
    except (binascii.Error, UnicodeError, ValueError, OverflowError):
        raise BadUserInput("the cursor is malformed") from None


def page_size(first: int | None) -> int:
    """How many items a list without cursors (`tags(first:)`) returns; `BadUserInput` out of range."""
    limit = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= limit <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}, got {limit}")
    return limit


def window(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Window:
    """The keyset window the Relay arguments ask for; `last` reads the list from its end."""
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise BadUserInput(f"`{name}` must be between 0 and {MAX_PAGE_SIZE}, got {size}")
    if first is not None and last is not None:
        raise BadUserInput("give either `first` or `last`, not both")
    return Window(
        limit=last if last is not None else DEFAULT_PAGE_SIZE if first is None else first,
        after=decode_cursor(after) if after is not None else None,
        before=decode_cursor(before) if before is not None else None,
        backward=last is not None,
    )


def newest_key(row: Any) -> Key:
    """The keyset position of a row of a list ordered by (created_at, id)."""
    return (row.created_at, row.id)


def page_info(page: Slice, window: Window, key: Callable[[Any], Key]) -> PageInfo:
    """PageInfo of a slice; the side the window did not read from is known from its cursors."""
    if window.backward:
        more_before = page.has_more or window.after is not None
        more_after = window.before is not None
    else:
        more_before = window.after is not None
        more_after = page.has_more or window.before is not None
    rows = page.rows
    return PageInfo(
        has_next_page=more_after,
        has_previous_page=more_before,
        start_cursor=encode_cursor(key(rows[0])) if rows else None,
        end_cursor=encode_cursor(key(rows[-1])) if rows else None,
    )


class Counted(Protocol):
    """A connection: it knows how to count its whole list, only when `totalCount` is asked."""

    count: Callable[[], Awaitable[int]]


async def total_counts(connections: Sequence[Counted], context: Any) -> list[int]:
    """`totalCount` of each connection; nested ones batch through their count loaders."""
    return list(await asyncio.gather(*(connection.count() for connection in connections)))


PagesRead = Callable[..., Awaitable[dict[int, Slice]]]
"""A read of a page of many parents' lists: `(reader, parent_ids, window, demand, *, viewer_id,
counted)`, like `db.comments.pages_by_article_id`."""
ReadPages = Callable[[Sequence[int], Window], Awaitable[dict[int, Slice]]]
Pages = DataLoader[PageKey, Slice] | ReadPages


def pages_of(
    context: Any, node: type, read: PagesRead, selected: Selected | None, loader: DataLoader[PageKey, Slice]
) -> Pages:
    """The pages of a list of `node` objects: through `read`, showing what `selected` selects of
    them (and the list's length when it selects `totalCount`), the page, its rows' relations and
    counts and the length in one statement for all parents; through `loader` on the per-object
    path (no selection), where the loader batches the parents."""
    if selected is None:
        return loader
    demand = demand_of(node, nodes_of(selected))
    counted = "totalCount" in selected
    viewer_id = context.viewer_id

    async def pages(parent_ids: Sequence[int], window: Window) -> dict[int, Slice]:
        found: dict[int, Slice] = await context.read(
            lambda reader: read(reader, parent_ids, window, demand, viewer_id=viewer_id, counted=counted)
        )
        return found

    return pages


async def connections(
    parent_ids: Sequence[int],
    window: Window,
    pages: Pages,
    counts: DataLoader[int, int],
    build: Callable[[Slice, Window, Callable[[], Awaitable[int]]], C],
) -> list[C]:
    """One connection per parent: its page through `pages` (one statement for all parents; a
    loader on the per-object path), its `totalCount` read with it or through `counts`, only
    when selected."""
    if isinstance(pages, DataLoader):
        slices = await load_all(pages, [(parent_id, window) for parent_id in parent_ids])
    else:
        found = await pages(list(dict.fromkeys(parent_ids)), window)
        slices = [found[parent_id] for parent_id in parent_ids]
    return [
        build(page, window, counter(page, partial(counts.load, parent_id)))
        for parent_id, page in zip(parent_ids, slices, strict=True)
    ]


def counter(page: Slice, count: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
    """How to count the page's whole list: `count`, unless its length was read with it."""
    if page.total is None:
        return count
    return partial(_known, page.total)


async def _known(value: int) -> int:
    return value


@strawberry.type(description="An item of a connection, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque; pass it as `after` (or `before`, where the field takes it) to page from here."
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type
class Connection(Generic[T]):
    """A page of a list: its nodes, and what is built only when selected (edges, cursors, the
    count of the whole list)."""

    nodes: list[T] = strawberry.field(description="The page's items, in order (edges without cursors).")
    page: strawberry.Private[Slice]
    window: strawberry.Private[Window]
    key: strawberry.Private[Callable[[Any], Key]]
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Where the page sits in the list, and the cursors to move on.")
    def page_info(self) -> PageInfo:
        """Built only when asked for: its cursors cost an encoding each."""
        return page_info(self.page, self.window, self.key)

    @strawberry.field(description="The page's items, in order, each with its cursor.")
    def edges(self) -> list[Edge[T]]:
        """Built only when asked for: cursors cost an encoding per row."""
        return [
            Edge(cursor=encode_cursor(self.key(row)), node=node)
            for row, node in zip(self.page.rows, self.nodes, strict=True)
        ]

    @strawberry.field(description="The number of items in the whole list, not just this page.")
    @batched(total_counts)
    async def total_count(self, info: Info) -> int: ...

    @classmethod
    def from_slice(
        cls,
        page: Slice,
        window: Window,
        count: Callable[[], Awaitable[int]],
        *,
        node: Callable[[Any], T],
        key: Callable[[Any], Key] = newest_key,
    ) -> Self:
        """The connection of a slice, each row made a node by `node`."""
        return cls(nodes=[node(row) for row in page.rows], page=page, window=window, key=key, count=count)
