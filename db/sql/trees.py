"""The shape of a query's answer, as the statement that builds it as JSON sees it
(db/sql/json.py): objects over rows, their columns, computed values and relations, pages of
lists, lookups at the root. graph/execution/trees.py makes one from a query's selection; every
key is a response key, in the query's order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause

from db.sql.demand import Entity
from db.sql.paging import Shape

MAX_KEYS = 50
"""The most keys one object may have: `json_build_object` takes at most 100 arguments."""


@dataclass(frozen=True, slots=True)
class Column:
    """A stored column of the object's row."""

    name: str


@dataclass(frozen=True, slots=True)
class Computed:
    """A value the entity computes per row (a count, a viewer's flag, the tag list)."""

    name: str


@dataclass(frozen=True, slots=True)
class GlobalId:
    """The row's global ID as `type_name`: base64 of "TypeName:id"."""

    type_name: str


@dataclass(frozen=True, slots=True)
class Const:
    """A constant string (`__typename`)."""

    value: str


@dataclass(frozen=True, slots=True)
class Obj:
    """An object over a row of `entity`: its response keys and what each shows."""

    entity: Entity
    fields: tuple[tuple[str, Part], ...]


@dataclass(frozen=True, slots=True)
class ToOne:
    """The row a relation of the entity names (an article's author), as an object."""

    relation: str
    shape: Obj


@dataclass(frozen=True, slots=True)
class Same:
    """The same row shown as another type (a viewer's public profile)."""

    shape: Obj


@dataclass(frozen=True, eq=False)
class Listing:
    """A list a page is read from: rows of `entity`, whose order and parent are kept in `links`
    (the rows' own table, or one naming them by `sort[1]`), `sort` the (sort value, row id)
    columns of `links`. `where` says which links belong to the list: of a parent row, of a
    narrowing (filter parts, bound after a prefix), or both."""

    entity: Entity
    links: FromClause
    sort: tuple[str, str]
    descending: bool
    where: Callable[[FromClause, FromClause | None, str, frozenset[str]], list[ColumnElement[bool]]]


@dataclass(frozen=True, slots=True)
class Cursor:
    """An edge's cursor."""


@dataclass(frozen=True, slots=True)
class Nodes:
    """A page's nodes."""

    shape: Obj


@dataclass(frozen=True, slots=True)
class Edges:
    """A page's edges: keys to a `Cursor`, the node (`Obj`) or a `Const`."""

    fields: tuple[tuple[str, Cursor | Obj | Const], ...]


@dataclass(frozen=True, slots=True)
class Info:
    """A page's PageInfo: keys to hasNextPage, hasPreviousPage, startCursor, endCursor, or a `Const`."""

    fields: tuple[tuple[str, str | Const], ...]


@dataclass(frozen=True, slots=True)
class TotalCount:
    """The length of the page's whole list."""


@dataclass(frozen=True, slots=True)
class Page:
    """A window of a list; its cursors and filter values are bound after `prefix`
    (`Window.parameters(prefix)`), its page size `limit` is written into the statement.
    PostgreSQL plans a prepared statement once for all its executions (a generic plan) only
    where that costs no more than planning each: with its LIMIT a parameter, the generic plan
    of a tag's feed reads the whole tag (52 ms), so every execution was planned anew (1 ms of
    the database's CPU); with the LIMIT written, the generic plan is the right one."""

    listing: Listing
    prefix: str
    shape: Shape
    limit: int
    narrowing: frozenset[str]
    fields: tuple[tuple[str, Nodes | Edges | Info | TotalCount | Const], ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """The row of `entity` whose `column` equals the parameter `parameter`, or null."""

    entity: Entity
    column: str
    parameter: str
    shape: Obj


@dataclass(frozen=True, slots=True)
class TopTags:
    """The most used tags (db/tags.py's order), at most `limit` (written, as a page's is)."""

    limit: int
    fields: tuple[tuple[str, str | Const], ...]


@dataclass(frozen=True, slots=True)
class Null:
    """A root field that is null without reading (the viewer of an anonymous request)."""


Part = Column | Computed | GlobalId | Const | ToOne | Same | Page
Root = Lookup | Page | TopTags | Const | Null


@dataclass(frozen=True, slots=True)
class Tree:
    """A query's `data`: its root keys; `anonymous` leaves the viewer's flags false;
    `viewer_checked` adds a column telling whether the viewer (`viewer_id`) still exists."""

    fields: tuple[tuple[str, Root], ...]
    anonymous: bool
    viewers: FromClause | None = None
    """The users' table, when the statement must also tell whether the viewer still exists."""
