"""Keyset windows: a page of a list ordered by (sort key, primary key), without OFFSET.

A list's position is a `Key` — the sort value and the id of a row — so pages stay stable
while rows are added, and every page costs one index range scan however deep it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, tuple_

Key = tuple[datetime, int]
#: Any SELECT, whatever its columns.
Query = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Window:
    """Which rows to take: `limit` after `after` (forward), or the last `limit` before `before`."""

    limit: int
    after: Key | None = None
    before: Key | None = None
    backward: bool = False


@dataclass(frozen=True, slots=True)
class Slice:
    """The rows of a window in list order; `has_more` tells whether the window cut any off."""

    rows: list[Any]
    has_more: bool


def _bounds(columns: tuple[Any, Any], descending: bool, window: Window) -> list[ColumnElement[bool]]:
    key = tuple_(*columns)
    conditions = []
    if window.after is not None:
        conditions.append(key < tuple_(*window.after) if descending else key > tuple_(*window.after))
    if window.before is not None:
        conditions.append(key > tuple_(*window.before) if descending else key < tuple_(*window.before))
    return conditions


def _ordering(columns: tuple[Any, Any], descending: bool, window: Window) -> list[Any]:
    """Backward windows read the list in reverse, then `cut` turns them round."""
    reverse = descending != window.backward
    return [column.desc() if reverse else column.asc() for column in columns]


def windowed(stmt: Query, columns: tuple[Any, Any], *, descending: bool, window: Window) -> Query:
    """`stmt` narrowed to the window, fetching one extra row to tell whether more exist."""
    return (
        stmt.where(*_bounds(columns, descending, window))
        .order_by(*_ordering(columns, descending, window))
        .limit(window.limit + 1)
    )


def windowed_per_parent(
    stmt: Query,
    parent: Any,
    columns: tuple[Any, Any],
    *,
    descending: bool,
    window: Window,
) -> Query:
    """The window applied to each parent's list at once: one statement for any number of parents.

    The result has a `parent_rank` column; rows come ordered by parent then list order.
    """
    rank = (
        func.row_number()
        .over(partition_by=parent, order_by=_ordering(columns, descending, window))
        .label("parent_rank")
    )
    inner = stmt.add_columns(rank).where(*_bounds(columns, descending, window)).subquery()
    return (
        select(inner)
        .where(inner.c.parent_rank <= window.limit + 1)
        .order_by(inner.c[parent.key], inner.c.parent_rank)
    )


def cut(rows: Sequence[Any], window: Window) -> Slice:
    """Drop the extra row and put a backward window back into list order."""
    page = list(rows[: window.limit])
    if window.backward:
        page.reverse()
    return Slice(page, len(rows) > window.limit)


def slices_by_parent(
    rows: Sequence[Any], parent: str, parent_ids: Sequence[int], window: Window
) -> dict[int, Slice]:
    """Split the rows of `windowed_per_parent` into one slice per parent (empty ones included)."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, parent)].append(row)
    return {parent_id: cut(grouped.get(parent_id, []), window) for parent_id in parent_ids}
