"""Records, and small statement builders that differ by dialect, kept in one place.

A record is a row read for display: a named tuple of the statement's columns. No ORM identity
or tracking, which a read-only request would pay for on every row and never use; and not
SQLAlchemy's `Row` either, whose attributes are found through `__getattr__` (about 0.7 µs a
read, against 0.03 µs for a named tuple's), which a large page reads thousands of times. Its
class is made for the statement's columns when the statement first runs, so its type is known
only to the read that wrote the statement: the reads of users, articles and comments declare
theirs with the protocols of db/rows.py.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from functools import cache, partial
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, ColumnElement, FromClause, Result, Select, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal


def _named(fields: Sequence[str]) -> Any:
    return namedtuple("Record", fields, rename=True)


def _picker(indexes: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The values at `indexes` of a row, always as a tuple (`itemgetter` of one index is not,
    and of none is an error)."""
    if not indexes:
        return lambda row: ()
    if len(indexes) == 1:
        [index] = indexes
        return lambda row: (row[index],)
    return itemgetter(*indexes)


_new = tuple.__new__
"""A named tuple made from its values without the Python frames of `_make` or `__new__`: a
record is made for every row read, thousands for a large page."""


@cache
def record_maker(columns: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
    """How to make a record of a row with these columns. Columns named `prefix__name` form a
    nested record `prefix` (the row of a joined table, like an article's `author`; nested again
    for `prefix__relation__name`), None when its first column is (an outer join that found
    nothing)."""
    nested: dict[str, list[int]] = {}
    for index, column in enumerate(columns):
        if "__" in column:
            nested.setdefault(column.partition("__")[0], []).append(index)
    if not nested:
        return partial(_new, _named(columns))
    own = [index for index, column in enumerate(columns) if "__" not in column]
    outer = _named([columns[index] for index in own] + list(nested))
    parts = [
        (_picker(indexes), _maker_of([columns[i].partition("__")[2] for i in indexes]))
        for indexes in nested.values()
    ]
    pick_own = _picker(own)
    if len(parts) == 1:  # the usual case, one joined row: no loop
        [(pick, make_inner)] = parts

        def make_one(row: Sequence[Any]) -> Any:
            values = pick(row)
            return _new(outer, (*pick_own(row), None if values[0] is None else make_inner(values)))

        return make_one

    def make(row: Sequence[Any]) -> Any:
        inner = [
            None if (values := pick(row))[0] is None else make_inner(values) for pick, make_inner in parts
        ]
        return _new(outer, (*pick_own(row), *inner))

    return make


def _maker_of(columns: list[str]) -> Callable[[Sequence[Any]], Any]:
    """The maker of a joined row's record: itself nested when it has joined rows of its own
    (a comment's article's author)."""
    if any("__" in column for column in columns):
        return record_maker(tuple(columns))
    return partial(_new, _named(columns))


def author_columns(users: FromClause) -> list[ColumnElement[Any]]:
    """The columns of a user shown as an author: what a profile shows, no more (no email, no
    password hash, no `updated_at`: a timestamp costs more to decode than any other column)."""
    return [users.c[name] for name in ("id", "username", "bio", "image", "created_at")]


def records(result: Result[Any]) -> list[Any]:
    """The rows of `result` as named tuples of its columns (see `record_maker`)."""
    make = record_maker(tuple(result.keys()))
    return [make(row) for row in result]


async def insert_ignoring_duplicates(
    session: AsyncSession, model: type[DeclarativeBase], rows: list[dict[str, Any]]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING: makes follow and favorite idempotent without a race."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(model).values(rows).on_conflict_do_nothing())


class AnyOf(ColumnElement[bool]):
    """`column IN (:name)` for a list bound at execution, written so each engine plans it once.

    An expanding IN renders one SQL text per list length: a new compile in SQLAlchemy and a new
    prepared statement in asyncpg for every batch size. PostgreSQL gets `column = ANY(:name)`
    with one array parameter instead, one text for every length; SQLite keeps the IN list.
    """

    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]
    type = Boolean()
    _is_implicitly_boolean = True

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(AnyOf)
def _expanding_in(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(AnyOf, "postgresql")
def _equals_any(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    array = bindparam(element.name, type_=postgresql.ARRAY(element.column.type))
    return compiler.process(element.column == any_(array), **kw)


def any_of(column: Any, name: str = "ids") -> AnyOf:
    """`AnyOf` for a column; `name` is the parameter the caller binds the list to."""
    return AnyOf(column, name)


def counts_by(column: ColumnElement[Any]) -> Select[Any, int]:
    """`(value, rows with it)` for each value of `column` bound as `ids`, in one statement;
    values no row has are absent."""
    return select(column, func.count()).where(any_of(column)).group_by(column)
