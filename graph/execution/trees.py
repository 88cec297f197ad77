"""A query's selection as the tree of its answer (db/sql/trees.py), for PostgreSQL to build
as JSON (graph/execution/compiled.py).

Every field of articles, users, comments and viewers is declared once, on its Strawberry type:
a stored column (a field without resolver), a value its entity computes (`read_with`: counts,
flags, tag lists, db/shown.py) or a to-one relation (`joined`), as graph/selection.py reads
them for the row reads too. Connections under objects are the lists of `LISTS`; the root
fields are `ROOTS`. Anything else makes the query `Unservable` here: `node` and `nodes` (any
type by ID), introspection, @defer, and an object of more keys than `json_build_object` takes.
"""

from __future__ import annotations

from typing import Any, cast

from graphql import GraphQLField, GraphQLObjectType, get_named_type
from graphql.execution import Executor
from graphql.execution.collect_fields import FieldDetailsList, collect_fields, collect_subfields

import db.rules
from db.listings import ALL_ARTICLES, ARTICLES_OF_AUTHOR, COMMENTS_OF_ARTICLE, FAVORITES_OF_USER, FEED
from db.shown import ARTICLES, COMMENTS, USERS
from db.sql.demand import Entity
from db.sql.paging import Shape
from db.sql.trees import (
    MAX_KEYS,
    Column,
    Computed,
    Const,
    Cursor,
    Edges,
    GlobalId,
    Info,
    Listing,
    Lookup,
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
from graph.execution.binds import Bind, Unservable, lookup, tag_limit, window
from graph.selection import reads_of

ENTITIES: dict[str, Entity] = {"Article": ARTICLES, "User": USERS, "Comment": COMMENTS, "Viewer": USERS}
"""The table each object type is a row of."""
LISTS: dict[tuple[str, str], Listing] = {
    ("Article", "comments"): COMMENTS_OF_ARTICLE,
    ("User", "articles"): ARTICLES_OF_AUTHOR,
    ("User", "favorites"): FAVORITES_OF_USER,
    ("Viewer", "feed"): FEED,
}
"""The connection fields under objects, by (type, field), and the list each pages through."""
ROOTS = frozenset({"__typename", "viewer", "user", "article", "articles", "tags"})
"""The root fields compiled; `node` and `nodes` (any type, by ID) stay with the level-wise executor."""


class Walk:
    """One compilation: the tree of a document's operation, and its fields' binds."""

    def __init__(self, executor: Executor[Any], anonymous: bool) -> None:
        self.executor = executor
        self.schema = executor.schema
        self.variables = executor.variable_values
        self.anonymous = anonymous
        self.binds: list[tuple[Bind, object]] = []
        self.checks_viewer = False

    def tree(self) -> Tree:
        root = self.schema.query_type
        assert root is not None
        executor = self.executor
        collected = collect_fields(self.schema, executor.fragments, self.variables, root, executor.operation)
        if collected.new_defer_usages:
            raise Unservable
        fields = [(key, self.root(root, details)) for key, details in collected.grouped_field_set.items()]
        _bounded(fields)
        return Tree(tuple(fields), self.anonymous, USERS.table if self.checks_viewer else None)

    def root(self, type_: GraphQLObjectType, details: FieldDetailsList) -> Root:
        node = details[0].node
        name = node.name.value
        if name not in ROOTS or any(d.fragment_variable_values for d in details):
            raise Unservable
        if name == "__typename":
            return Const(type_.name)
        field = type_.fields[name]
        if name == "viewer":
            if self.anonymous:
                return Null()
            self.checks_viewer = True
            return Lookup(USERS, "id", "viewer_id", self.object(_object_type(field), details))
        prefix = f"p{len(self.binds)}_"
        if name == "articles":
            return self.page(ALL_ARTICLES, field, details, prefix)
        if name == "tags":
            limit = cast(int, self.bind(tag_limit(field, node, prefix)))
            return TopTags(limit, self.tag_fields(_object_type(field), details))
        if name == "article":
            self.bind(lookup(field, node, "slug", f"{prefix}slug", lambda slug: slug))
            return Lookup(ARTICLES, "slug", f"{prefix}slug", self.object(_object_type(field), details))
        self.bind(lookup(field, node, "username", f"{prefix}key", db.rules.key))
        return Lookup(USERS, "username_key", f"{prefix}key", self.object(_object_type(field), details))

    def bind(self, bind: Bind) -> object:
        """Keep `bind`; the shape this request's arguments give is the one compiled."""
        shape, _ = bind(self.variables)
        self.binds.append((bind, shape))
        return shape

    def subfields(self, type_: GraphQLObjectType, details: FieldDetailsList) -> dict[str, FieldDetailsList]:
        executor = self.executor
        collected = collect_subfields(
            self.schema, executor.fragments, self.variables, executor.operation, type_, details
        )
        if collected.new_defer_usages:
            raise Unservable
        _bounded(collected.grouped_field_set)
        return collected.grouped_field_set

    def object(self, type_: GraphQLObjectType, details: FieldDetailsList) -> Obj:
        entity = ENTITIES.get(type_.name)
        if entity is None:
            raise Unservable
        reads = reads_of(type_.extensions["strawberry-definition"].origin)
        fields: list[tuple[str, Part]] = []
        for key, sub in self.subfields(type_, details).items():
            name = sub[0].node.name.value
            if any(d.fragment_variable_values for d in sub):
                raise Unservable
            fields.append((key, self.part(type_, entity, reads, name, sub)))
        return Obj(entity, tuple(fields))

    def part(
        self,
        type_: GraphQLObjectType,
        entity: Entity,
        reads: dict[str, tuple[str, str, type | None]],
        name: str,
        details: FieldDetailsList,
    ) -> Part:
        if name == "__typename":
            return Const(type_.name)
        if name == "id":
            return GlobalId(type_.name)
        field = type_.fields[name]
        listing = LISTS.get((type_.name, name))
        if listing is not None:
            return self.page(listing, field, details, f"p{len(self.binds)}_")
        if type_.name == "Viewer" and name == "user":
            return Same(self.object(_object_type(field), details))
        read = reads.get(name)
        if read is None:
            raise Unservable
        kind, value, _ = read
        if kind == "column":
            if value not in entity.table.c:
                raise Unservable
            return Column(value)
        if kind == "computed":
            return Computed(value)
        return ToOne(value, self.object(_object_type(field), details))

    def page(self, listing: Listing, field: GraphQLField, details: FieldDetailsList, prefix: str) -> Page:
        bound = self.bind(window(field, details[0].node, prefix))
        shape, limit, parts = cast("tuple[Shape, int, frozenset[str]]", bound)
        connection = _object_type(field)
        fields: list[tuple[str, Nodes | Edges | Info | TotalCount | Const]] = []
        for key, sub in self.subfields(connection, details).items():
            name = sub[0].node.name.value
            if name == "__typename":
                fields.append((key, Const(connection.name)))
            elif name == "totalCount":
                fields.append((key, TotalCount()))
            elif name == "nodes":
                fields.append((key, Nodes(self.object(_object_type(connection.fields[name]), sub))))
            elif name == "edges":
                fields.append((key, self.edges(_object_type(connection.fields[name]), sub)))
            elif name == "pageInfo":
                fields.append((key, self.info(_object_type(connection.fields[name]), sub)))
            else:
                raise Unservable
        return Page(listing, prefix, shape, limit, parts, tuple(fields))

    def edges(self, type_: GraphQLObjectType, details: FieldDetailsList) -> Edges:
        fields: list[tuple[str, Cursor | Obj | Const]] = []
        for key, sub in self.subfields(type_, details).items():
            name = sub[0].node.name.value
            if name == "__typename":
                fields.append((key, Const(type_.name)))
            elif name == "cursor":
                fields.append((key, Cursor()))
            elif name == "node":
                fields.append((key, self.object(_object_type(type_.fields[name]), sub)))
            else:
                raise Unservable
        return Edges(tuple(fields))

    def info(self, type_: GraphQLObjectType, details: FieldDetailsList) -> Info:
        return Info(
            self.scalars(type_, details, {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"})
        )

    def tag_fields(
        self, type_: GraphQLObjectType, details: FieldDetailsList
    ) -> tuple[tuple[str, str | Const], ...]:
        return self.scalars(type_, details, {"name", "articleCount"})

    def scalars(
        self, type_: GraphQLObjectType, details: FieldDetailsList, known: set[str]
    ) -> tuple[tuple[str, str | Const], ...]:
        fields: list[tuple[str, str | Const]] = []
        for key, sub in self.subfields(type_, details).items():
            name = sub[0].node.name.value
            if name == "__typename":
                fields.append((key, Const(type_.name)))
            elif name in known:
                fields.append((key, name))
            else:
                raise Unservable
        return tuple(fields)


def _bounded(fields: Any) -> None:
    if len(fields) > MAX_KEYS:
        raise Unservable


def _object_type(field: GraphQLField) -> GraphQLObjectType:
    named = get_named_type(field.type)
    if not isinstance(named, GraphQLObjectType):
        raise Unservable
    return named
