"""Every element of the served schema says what it is: each type, field, argument, input field and
enum value has a description (issue 15: GraphiQL's docs pane, generated client types and
graphql-schema-linter all read them). Introspection's own types (`__Type`…) and the built-in
scalars are graphql-core's, described there."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    specified_scalar_types,
)

from db.settings import Settings
from graph.schema import create_schema
from tests.test_contract import COMMITTED


def undescribed(schema: GraphQLSchema) -> Iterator[str]:
    """The coordinates (`Type.field(arg:)`) of every element without a description."""
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or type_.name in specified_scalar_types:
            continue
        yield from _missing(type_.name, type_)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for name, field in type_.fields.items():
                yield from _missing(f"{type_.name}.{name}", field)
                for arg_name, argument in field.args.items():
                    yield from _missing(f"{type_.name}.{name}({arg_name}:)", argument)
        elif isinstance(type_, GraphQLInputObjectType):
            for name, input_field in type_.fields.items():
                yield from _missing(f"{type_.name}.{name}", input_field)
        elif isinstance(type_, GraphQLEnumType):
            for name, value in type_.values.items():
                yield from _missing(f"{type_.name}.{name}", value)


def _missing(coordinate: str, element: GraphQLNamedType | GraphQLArgument | object) -> Iterator[str]:
    description = getattr(element, "description", None)
    if not (description and description.strip()):
        yield coordinate


def test_every_element_of_the_served_schema_is_described() -> None:
    schema = create_schema(Settings())._schema
    assert list(undescribed(schema)) == []


def test_the_committed_schema_carries_the_descriptions() -> None:
    """What tools read from schema.graphql (the linter, codegen from the file) is described too."""
    assert list(undescribed(build_schema(COMMITTED.read_text()))) == []


def test_the_check_finds_an_undescribed_argument() -> None:
    """The walk reaches arguments of nested connection fields, where descriptions are most often
    forgotten."""
    schema = build_schema(
        '"Q" type Query { "f" articles(first: Int): C! }  "C" type C { "n" totalCount: Int! }'
    )
    assert list(undescribed(schema)) == ["Query.articles(first:)"]
