"""Read queries answered by PostgreSQL as JSON: one statement builds the query's whole `data`.

The level-wise executor (graph/execution/levelwise.py) reads one statement per level of a query
and then, in Python, makes an object of every row and a value of every field: that work grows
with the rows, and for a page of articles with their comments it is most of a request's time.
For a query whose every field graph/execution/trees.py knows how to read in SQL, PostgreSQL
builds the answer instead (db/sql/json.py): the selection becomes a `Tree` once per document
and variable shape, its statement is compiled once, and each request binds its arguments
(graph/execution/binds.py), runs the one statement and decodes the one value it returns.

What is not compiled (`node`, introspection, @defer) is served by the level-wise executor, as
is every request whose arguments it would refuse (a page size out of range, a malformed
cursor) and a viewer whose account is gone: every error is reported by the one path that
reports errors. SQLite is served level by level (the lane builds no `JsonReads` for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode
from graphql.execution import Executor
from graphql.execution.values import get_variable_values

from db.listings import tag_usage
from db.sql.fetch import fetch
from db.sql.json import statement
from db.sql.paging import Query
from db.sql.trees import Const, Null
from graph.context import Context
from graph.execution.binds import Bind, Unservable
from graph.execution.trees import Walk

SHAPES_PER_DOCUMENT = 32
"""Statements kept per document (one per variable shape and viewer kind): a client cannot grow it."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A document's statement for one variable shape: how to bind each field's arguments,
    and the shapes they were compiled for (a request of another shape is compiled anew)."""

    statement: Query | None
    """None when the data is known without reading (`__typename`, an anonymous `viewer`)."""
    binds: tuple[tuple[Bind, object], ...]
    checks_viewer: bool
    constant: dict[str, Any] | None = None


class JsonReads:
    """Answers read queries with PostgreSQL's JSON, where it can."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    async def answer(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        compiled: dict[Any, Compiled | None],
        variables: dict[str, Any] | None,
        context: Context,
    ) -> dict[str, Any] | None:
        """The query's `data`; None when the level-wise executor must answer. `compiled` is the
        document's own cache of statements. The JSON is decoded (orjson: a few microseconds
        for a page) so that the response is the same bytes whichever path built it."""
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), variables or {})
        if isinstance(coerced, list):
            return None  # the executor reports the variables' errors
        anonymous = context.viewer_id is None
        key = (anonymous, _signature(coerced.coerced))
        if key in compiled:
            found = compiled[key]
        else:
            found = self._compile(document, operation, variables, anonymous)
            if len(compiled) >= SHAPES_PER_DOCUMENT:
                del compiled[next(iter(compiled))]  # the oldest shape
            compiled[key] = found
        if found is None:
            return None
        parameters: dict[str, Any] = {"viewer_id": context.viewer_id}
        try:
            for bind, shape in found.binds:
                bound, values = bind(coerced)
                if bound != shape:
                    return None
                parameters.update(values)
        except Unservable:
            return None
        stmt = found.statement
        if stmt is None:
            return found.constant
        [row] = await context.read(lambda reader: fetch(reader, stmt, parameters))
        if found.checks_viewer and not row.viewer_exists:
            return None  # the token's user is gone: the level-wise executor says so
        data: dict[str, Any] = orjson.loads(row.data)
        return data

    def _compile(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        anonymous: bool,
    ) -> Compiled | None:
        name = operation.name.value if operation.name else None
        executor = Executor.build(self.schema, document, raw_variable_values=variables, operation_name=name)
        if isinstance(executor, list):
            return None
        walk = Walk(executor, anonymous)
        try:
            tree = walk.tree()
        except Unservable:
            return None
        if all(isinstance(root, Const | Null) for _, root in tree.fields):
            constant = {key: root.value if isinstance(root, Const) else None for key, root in tree.fields}
            return Compiled(None, (), False, constant)
        return Compiled(statement(tree, tag_usage), tuple(walk.binds), tree.viewers is not None)


def _signature(value: Any) -> Any:
    """What of a variable's value a statement's shape depends on: null or not, booleans
    (@skip, @include), integers (page sizes, written into the statement), the keys of input
    objects."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, dict):
        return tuple((name, _signature(item)) for name, item in sorted(value.items()))
    if isinstance(value, list):
        return tuple(_signature(item) for item in value)
    return ...
