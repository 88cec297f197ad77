"""A whole query's answer built by PostgreSQL as JSON, in one statement.

A read query is a tree: objects, their columns and computed values, their to-one relations
and their pages of lists. Shaped as a `Tree` (db/sql/trees.py; graph/execution/trees.py makes
one from a query's selection), it is one SELECT of one `json` value, the query's `data`: the
server makes no object of a row or value of a field, so the Python work of a request no
longer grows with its rows. Each object is a `json_build_object` over its row,
keyed by the response keys in the query's order; a to-one relation is a correlated subquery;
a page is the window of db/sql/paging.py read per parent in a correlated subquery, its rows'
JSON aggregated in list order, with its cursors, PageInfo and count built beside them.

The entities of db/shown.py say how each column, count, flag and tag list is read, the same
expressions the row reads use. Values come out as the GraphQL layer serialises them: a
timestamp as Python's `isoformat()` of its UTC time, a global ID and a cursor in the bytes
graph/node.py and graph/pagination.py encode. PostgreSQL only (SQLite has no ordered JSON
aggregate of nested objects in 3.40).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Text,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.types import DateTime

from db.sql.demand import Entity
from db.sql.paging import Query, bounds, ordering
from db.sql.trees import (
    Column,
    Computed,
    Const,
    Cursor,
    Edges,
    GlobalId,
    Info,
    Nodes,
    Null,
    Obj,
    Page,
    Part,
    Root,
    Same,
    ToOne,
    TopTags,
    TotalCount,
    Tree,
)


def statement(tree: Tree, tag_usage: Callable[[int], Query]) -> Query:
    """The statement of `tree`: one row, its `data` the JSON text (and `viewer_exists`).
    `tag_usage(limit)` is the most used tags, at most `limit` of them."""
    build = _Builder(tree.anonymous, tag_usage)
    data = func.json_build_object(*_pairs(tree.fields, build.root))
    columns: list[ColumnElement[Any]] = [cast(data, Text).label("data")]  # text: no decoding
    if tree.viewers is not None:
        found = exists().where(tree.viewers.c.id == bindparam("viewer_id"))
        columns.append(found.label("viewer_exists"))
    return select(*columns)


def _pairs(fields: tuple[tuple[str, Any], ...], value: Callable[[Any], ColumnElement[Any]]) -> list[Any]:
    pairs: list[Any] = []
    for key, part in fields:
        pairs.extend((_text(key), value(part)))
    return pairs


def _text(value: str) -> ColumnElement[str]:
    """A string constant in the statement: keys are GraphQL names, type names too."""
    return literal_column("'" + value.replace("'", "''") + "'", Text())


def iso_time(value: ColumnElement[Any]) -> ColumnElement[str]:
    """`datetime.isoformat()` of a UTC timestamp: microseconds only when there are any."""
    utc = value.op("AT TIME ZONE")(literal_column("'UTC'"))
    seconds = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
    whole = func.mod(cast(func.extract("microseconds", value), BigInteger), 1000000) == 0
    fraction = case((whole, literal_column("''")), else_=func.to_char(utc, literal_column("'.US'")))
    return seconds.concat(fraction).concat(literal_column("'+00:00'"))


def _base64(text: ColumnElement[Any]) -> ColumnElement[str]:
    return func.encode(func.convert_to(text, literal_column("'UTF8'")), literal_column("'base64'"))


def cursor_of(sort: ColumnElement[Any], row_id: ColumnElement[Any]) -> ColumnElement[str]:
    """graph/pagination.py's cursor: URL-safe base64 of "isoformat|id"."""
    text = iso_time(sort).concat(literal_column("'|'")).concat(cast(row_id, Text))
    return func.translate(_base64(text), literal_column("'+/'"), literal_column("'-_'"))


class _Builder:
    """Turns a tree's parts into SQL expressions, each over the row it belongs to."""

    def __init__(self, anonymous: bool, tag_usage: Callable[[int], Query]) -> None:
        self.anonymous = anonymous
        self.tag_usage = tag_usage

    def root(self, root: Root) -> ColumnElement[Any]:
        if isinstance(root, Const):
            return _text(root.value)
        if isinstance(root, Null):
            return null()
        if isinstance(root, Page):
            return self.page(root, None)
        if isinstance(root, TopTags):
            return self.tags(root)
        row = root.entity.table.alias()
        found = select(self.object(root.shape, row)).where(row.c[root.column] == bindparam(root.parameter))
        return found.scalar_subquery()

    def object(self, shape: Obj, row: FromClause) -> ColumnElement[Any]:
        return func.json_build_object(*_pairs(shape.fields, lambda part: self.part(shape.entity, part, row)))

    def part(self, entity: Entity, part: Part, row: FromClause) -> ColumnElement[Any]:
        if isinstance(part, Column):
            column = row.c[part.name]
            return iso_time(column) if _is_time(column) else column
        if isinstance(part, Computed):
            if self.anonymous and part.name in entity.for_viewer:
                return false()
            return entity.computed[part.name](row)
        if isinstance(part, GlobalId):
            return _base64(_text(part.type_name + ":").concat(cast(row.c.id, Text)))
        if isinstance(part, Const):
            return _text(part.value)
        if isinstance(part, ToOne):
            target, foreign_key = entity.relations[part.relation]
            related = target().table.alias()
            found = select(self.object(part.shape, related)).where(related.c.id == row.c[foreign_key])
            return found.scalar_subquery()
        if isinstance(part, Same):
            return self.object(part.shape, row)
        return self.page(part, row)

    def page(self, page: Page, parent: FromClause | None) -> ColumnElement[Any]:
        """A page as one JSON object: a subquery aggregating its window's rows."""
        window = _Window(page, parent)

        def value(part: Nodes | Edges | Info | TotalCount | Const) -> ColumnElement[Any]:
            if isinstance(part, Const):
                return _text(part.value)
            if isinstance(part, Nodes):
                return window.listed(self.object(part.shape, window.rows))
            if isinstance(part, Edges):
                edge = _pairs(part.fields, lambda item: self.edge_part(item, window.cursor, window.rows))
                return window.listed(func.json_build_object(*edge))
            if isinstance(part, TotalCount):
                return window.total()
            return func.json_build_object(*_pairs(part.fields, window.info))

        built = select(func.json_build_object(*_pairs(page.fields, value)))
        if not any(isinstance(part, Nodes | Edges | Info) for _, part in page.fields):
            return built.scalar_subquery()  # a count and constants: no rows to read
        # One row whatever the page holds: a grand total, even where no aggregate is selected.
        joined = window.keys.join(window.rows, window.rows.c.id == window.keys.c.page_id)
        return built.select_from(joined).group_by(literal_column("()")).scalar_subquery()

    def edge_part(self, item: Cursor | Obj | Const, cursor: ColumnElement[Any], row: FromClause) -> Any:
        if isinstance(item, Cursor):
            return cursor
        if isinstance(item, Const):
            return _text(item.value)
        return self.object(item, row)

    def tags(self, tags: TopTags) -> ColumnElement[Any]:
        used = self.tag_usage(tags.limit).subquery()
        values = {"name": used.c.name, "articleCount": used.c.article_count}
        tag = func.json_build_object(
            *_pairs(tags.fields, lambda item: _text(item.value) if isinstance(item, Const) else values[item])
        )
        in_order = aggregate_order_by(tag, used.c.article_count.desc(), used.c.id)
        listed = func.coalesce(func.json_agg(in_order), literal_column("'[]'::json"))
        return select(listed).select_from(used).scalar_subquery()


class _Window:
    """The rows of a page's window: the keys of its list read in window order and ranked (one
    more than the page, to tell whether more follow), and the rows they name."""

    def __init__(self, page: Page, parent: FromClause | None) -> None:
        listing, prefix, shape = page.listing, page.prefix, page.shape
        self.page, self.parent, self.shape = page, parent, shape
        links = listing.links.alias()
        sort = (links.c[listing.sort[0]], links.c[listing.sort[1]])
        order = ordering(sort, listing.descending, shape)
        self.limit = page.limit
        ranked = (
            select(
                sort[0].label("page_sort"),
                sort[1].label("page_id"),
                func.row_number().over(order_by=order).label("page_rank"),
            )
            .where(*listing.where(links, parent, prefix, page.narrowing))
            .where(*bounds(sort, listing.descending, shape, prefix))
            .order_by(*order)
            .limit(literal_column(str(int(page.limit) + 1)))  # one more: do more follow?
        )
        self.keys = _correlated(ranked, parent).subquery()
        self.rows = listing.entity.table.alias()
        self.kept = self.keys.c.page_rank <= literal_column(str(int(page.limit)))
        rank = self.keys.c.page_rank
        self.in_list = rank.desc() if shape.backward else rank.asc()
        self.cursor = cursor_of(self.keys.c.page_sort, self.keys.c.page_id)

    def listed(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """A JSON array of `value` for each row of the page, in list order."""
        values = func.json_agg(aggregate_order_by(value, self.in_list)).filter(self.kept)
        return func.coalesce(values, literal_column("'[]'::json"))

    def info(self, item: str | Const) -> ColumnElement[Any]:
        """A PageInfo field, as graph/pagination.py's `page_info` tells it."""
        if isinstance(item, Const):
            return _text(item.value)
        shape = self.shape
        more = func.count() > literal_column(str(int(self.limit)))
        if item == "hasNextPage":
            return _flag(shape.before) if shape.backward else _or(more, shape.before)
        if item == "hasPreviousPage":
            return _or(more, shape.after) if shape.backward else _flag(shape.after)
        first = item == "startCursor"
        rank = self.keys.c.page_rank
        in_order = rank.asc() if first != shape.backward else rank.desc()
        cursors = func.array_agg(aggregate_order_by(self.cursor, in_order)).filter(self.kept)
        return type_coerce(cursors, ARRAY(Text()))[1]

    def total(self) -> ColumnElement[Any]:
        """The length of the whole list."""
        listing = self.page.listing
        counted = listing.links.alias()
        where = listing.where(counted, self.parent, self.page.prefix, self.page.narrowing)
        return _correlated(
            select(func.count()).select_from(counted).where(*where), self.parent
        ).scalar_subquery()


def _correlated(query: Query, parent: FromClause | None) -> Query:
    """`query` naming its parent row, which is in the FROM of a statement further out: SQLAlchemy
    correlates a subquery only with the one right around it unless told."""
    return query if parent is None else query.correlate(parent)


def _flag(value: bool) -> ColumnElement[bool]:
    return true() if value else false()


def _or(more: ColumnElement[bool], given: bool) -> ColumnElement[bool]:
    return or_(more, true()) if given else more


def _is_time(column: ColumnElement[Any]) -> bool:
    """Whether `column` holds timestamps (a `DateTime`, or a type decorating one)."""
    return isinstance(column.type, DateTime) or isinstance(getattr(column.type, "impl", None), DateTime)
