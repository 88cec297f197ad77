"""Every place a client can put a value, derived from the served schema.

The bad-input sweep iterates over these, so a field or argument added to the schema is
swept without anyone remembering to list it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    is_leaf_type,
)

from db.settings import Settings
from graph.schema import create_schema

#: Scalars a client sends as JSON strings.
TEXT_SCALARS = {"String", "ID", "DateTime"}


@cache
def served_schema() -> GraphQLSchema:
    return build_schema(create_schema(Settings()).as_str())


@dataclass(frozen=True)
class Slot:
    """One value a client can set: `path` runs from a root field's argument into input objects."""

    operation: str
    field: str
    path: tuple[str, ...]
    type: GraphQLInputType

    @property
    def scalar(self) -> str:
        return get_named_type(self.type).name

    @property
    def is_list(self) -> bool:
        unwrapped = self.type.of_type if isinstance(self.type, GraphQLNonNull) else self.type
        return isinstance(unwrapped, GraphQLList)

    def __str__(self) -> str:
        return f"{self.field}.{'.'.join(self.path)}"


def root_fields() -> Iterator[tuple[str, str, GraphQLField]]:
    schema = served_schema()
    for operation, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            yield operation, name, field


def text_slots() -> list[Slot]:
    """Every string-valued argument and input field of every root Query and Mutation field."""
    return [
        slot
        for operation, name, field in root_fields()
        for slot in _slots(operation, name, field.args)
        if slot.scalar in TEXT_SCALARS
    ]


def _slots(
    operation: str, field: str, args: dict[str, GraphQLArgument], prefix: tuple[str, ...] = ()
) -> Iterator[Slot]:
    for arg_name, arg in args.items():
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLInputObjectType):
            yield from _slots(operation, field, dict(named.fields.items()), (*prefix, arg_name))  # type: ignore[arg-type]
        else:
            yield Slot(operation, field, (*prefix, arg_name), arg.type)


@dataclass(frozen=True)
class NestedArgument:
    """An argument of a field anywhere under Query, with the path of fields that reaches it."""

    fields: tuple[str, ...]
    argument: str
    type: GraphQLInputType

    def __str__(self) -> str:
        return f"{'.'.join(self.fields)}({self.argument})"


def reachable_arguments(names: set[str], max_depth: int = 4) -> list[NestedArgument]:
    """Arguments called one of `names` on any field reachable from Query, each field once,
    by the shortest path (breadth first)."""
    schema = served_schema()
    assert schema.query_type is not None
    found: list[NestedArgument] = []
    seen: set[tuple[str, str]] = set()
    level: list[tuple[GraphQLNamedType, tuple[str, ...]]] = [(schema.query_type, ())]
    for _ in range(max_depth):
        following: list[tuple[GraphQLNamedType, tuple[str, ...]]] = []
        for parent, path in level:
            if not isinstance(parent, GraphQLObjectType):
                continue
            for name, field in parent.fields.items():
                if (parent.name, name) in seen:
                    continue
                seen.add((parent.name, name))
                for arg_name, arg in field.args.items():
                    if arg_name in names:
                        found.append(NestedArgument((*path, name), arg_name, arg.type))
                following.append((get_named_type(field.type), (*path, name)))
        level = following
    return found


def selection(type_: GraphQLNamedType, depth: int = 2) -> str:
    """Every argument-free field of a type down to `depth` levels, `__typename` included."""
    if is_leaf_type(type_) or depth == 0:
        return ""
    if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        return "{ __typename }"
    parts = ["__typename"]
    for name, field in type_.fields.items():
        if any(isinstance(arg.type, GraphQLNonNull) for arg in field.args.values()):
            continue
        named = get_named_type(field.type)
        if isinstance(named, GraphQLScalarType) or is_leaf_type(named):
            parts.append(name)
        elif depth > 1:
            parts.append(f"{name} {selection(named, depth - 1)}")
    return "{ " + " ".join(parts) + " }"
