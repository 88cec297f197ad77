"""Cursor connections: page-size rules, the cursor codec and the PageInfo of a slice."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from db.sql.paging import Key, Slice, Window
from graph.errors import BadUserInput
from graph.loaders import PageKey, load_all
from graph.node import MAX_PK

C = TypeVar("C")

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


async def connections(
    parent_ids: Sequence[int],
    window: Window,
    pages: DataLoader[PageKey, Slice],
    counts: DataLoader[int, int],
    build: Callable[[Slice, Window, Callable[[], Awaitable[int]]], C],
) -> list[C]:
    """One connection per parent: its page through `pages` (one statement for all parents),
    its `totalCount` through `counts`, only when selected."""
    slices = await load_all(pages, [(parent_id, window) for parent_id in parent_ids])
    return [
        build(page, window, partial(counts.load, parent_id))
        for parent_id, page in zip(parent_ids, slices, strict=True)
    ]
