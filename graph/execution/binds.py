"""How a compiled read (graph/execution/compiled.py) binds each request's arguments: the same
rules as the level-wise path, whose functions these call (graph/pagination.py's windows, the
article filter and lookups of db/), each field's values named after its own prefix. An
argument the level-wise path would refuse, or a lookup of text no row can hold, makes the
request `Unservable`: the level-wise executor then answers it, errors included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import FieldNode, GraphQLField
from graphql.execution.values import VariableValues, get_argument_values

import db.articles
import db.rules
from graph import pagination
from graph.errors import BadUserInput

Variables = VariableValues
Bind = Callable[[Variables], tuple[object, dict[str, Any]]]
"""A field's arguments as statement parameters: `(shape, parameters)`, or `Unservable`."""


class Unservable(Exception):
    """The query, or this request's arguments, are for the level-wise executor."""


class Refused(Unservable):
    """This request's arguments are (the query may be compiled for the next request)."""


def _arguments(field: GraphQLField, node: FieldNode, variables: Variables) -> dict[str, Any]:
    return get_argument_values(field, node, variables)


def window(field: GraphQLField, node: FieldNode, prefix: str) -> Bind:
    """A page's window and (for the global list) its filter, as `pagination.window` and
    `db.articles` read them."""

    def bind(variables: Variables) -> tuple[object, dict[str, Any]]:
        arguments = _arguments(field, node, variables)
        try:
            window = pagination.window(
                arguments.get("first"), arguments.get("after"), arguments.get("last"), arguments.get("before")
            )
        except BadUserInput:
            raise Refused from None
        parameters = window.parameters(prefix)
        given = arguments.get("filter")
        parts: frozenset[str] = frozenset()
        if given is not None:
            narrowing = db.articles.ArticleFilter(
                tag=given.get("tag"), author=given.get("author"), favorited_by=given.get("favoritedBy")
            )
            values = db.articles.narrowing_values(narrowing)
            if values is None:
                raise Refused
            parts = frozenset(values)
            parameters.update({prefix + name: value for name, value in values.items()})
        return (window.shape, window.limit, parts), parameters

    return bind


def lookup(
    field: GraphQLField, node: FieldNode, argument: str, parameter: str, key: Callable[[str], str]
) -> Bind:
    def bind(variables: Variables) -> tuple[object, dict[str, Any]]:
        value = _arguments(field, node, variables)[argument]
        if not db.rules.comparable(value):
            raise Refused
        return None, {parameter: key(value)}

    return bind


def tag_limit(field: GraphQLField, node: FieldNode, prefix: str) -> Bind:
    def bind(variables: Variables) -> tuple[object, dict[str, Any]]:
        try:
            return pagination.page_size(_arguments(field, node, variables).get("first")), {}
        except BadUserInput:
            raise Refused from None

    return bind
