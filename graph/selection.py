"""What a query selects under a field, and the `Demand` a read of its objects answers it with.

A field that reads objects (a root field, a connection) is told what the query selects under
it (`Selected`), before any of it is resolved. It asks its read for all of it at once
(`demand_of`): the objects' selected columns, the values their fields declare they can be read
with (`batched(..., read_with=...)`: counts, viewer flags, tag lists) and their to-one relations
(`batched(..., joined=...)`: an article's author), each with its own selection. One statement
then reads a level of the query, whatever fields it selects (db/shown.py). The fields find
their values on the objects' rows; one whose value was not read (the per-object path passes no
selection) loads it as before.

The selection is read from the query's syntax, merged over aliases and fragments whatever their
type condition: a field selected only for another type of an interface is read for nothing,
which costs a column and never a statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.execution.values import get_directive_values
from strawberry.types.base import StrawberryContainer
from strawberry.types.lazy_type import LazyType
from strawberry.utils.str_converters import to_camel_case

from db.sql.demand import Demand

Selected = dict[str, "Selected"]
"""GraphQL field name → what is selected under it."""

JOINED = "__conduit_joined__"
READ_WITH = "__conduit_read_with__"


def selected_under(nodes: Iterable[FieldNode], fragments: Mapping[str, Any], variables: Any) -> Selected:
    """What the field nodes `nodes` (one field, perhaps under several aliases) select."""
    selected: Selected = {}
    for node in nodes:
        if node.selection_set is not None:
            _collect(node.selection_set, fragments, variables, selected)
    return selected


def _collect(
    selections: SelectionSetNode,
    fragments: Mapping[str, Any],
    variables: Any,
    into: Selected,
) -> None:
    for selection in selections.selections:
        if selection.directives and not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            under = into.setdefault(selection.name.value, {})
            if selection.selection_set is not None:
                _collect(selection.selection_set, fragments, variables, under)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, fragments, variables, into)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:  # graphql-core's executor keeps details around the definition
                definition = getattr(fragment, "definition", fragment)
                _collect(definition.selection_set, fragments, variables, into)


def _included(selection: Any, variables: Any) -> bool:
    """Whether @skip and @include keep `selection`."""
    skip = get_directive_values(GraphQLSkipDirective, selection, variables)
    if skip is not None and skip["if"]:
        return False
    include = get_directive_values(GraphQLIncludeDirective, selection, variables)
    return include is None or bool(include["if"])


def demand_of(cls: type, selected: Selected) -> Demand:
    """What a read of `cls` objects (Article, User, Comment) must show for `selected`."""
    columns: set[str] = set()
    computed: set[str] = set()
    joined: list[tuple[str, Demand]] = []
    reads = reads_of(cls)
    for name, under in selected.items():
        read = reads.get(name)
        if read is None:
            continue
        kind, value, target = read
        if kind == "column":
            columns.add(value)
        elif kind == "computed":
            computed.add(value)
        else:
            assert target is not None
            joined.append((value, demand_of(target, under)))
    return Demand(frozenset(columns), frozenset(computed), frozenset(joined))


def nodes_of(selected: Selected) -> Selected:
    """What a connection's selection selects of its nodes, through `nodes` and `edges.node`."""
    nodes = selected.get("nodes")
    node = selected.get("edges", {}).get("node")
    if node is None:
        return nodes or {}
    if nodes is None:
        return node
    return _merged(nodes, node)


def _merged(one: Selected, other: Selected) -> Selected:
    merged = dict(one)
    for name, under in other.items():
        merged[name] = _merged(merged[name], under) if name in merged else under
    return merged


@cache
def reads_of(cls: type) -> dict[str, tuple[str, str, type | None]]:
    """For each GraphQL field of `cls`: a stored column (a field without resolver), a value
    read with the row, or a joined relation and its type."""
    reads: dict[str, tuple[str, str, type | None]] = {}
    for field in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        name = field.graphql_name or to_camel_case(field.python_name)
        resolver = field.base_resolver
        if resolver is None:
            reads[name] = ("column", field.python_name, None)
            continue
        function = resolver.wrapped_func
        if (value := getattr(function, READ_WITH, None)) is not None:
            reads[name] = ("computed", value, None)
        elif (relation := getattr(function, JOINED, None)) is not None:
            reads[name] = ("joined", relation, _object_type(field.type))
    return reads


def _object_type(type_: Any) -> type:
    while isinstance(type_, StrawberryContainer):
        type_ = type_.of_type
    if isinstance(type_, LazyType):
        type_ = type_.resolve_type()
    assert isinstance(type_, type)
    return type_
