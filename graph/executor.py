"""Level-by-level execution of read queries: one step per field of the query, not per object.

graphql-core resolves a query field by field and object by object: for 50 articles with 10
comments each that is thousands of resolver calls, each wrapped, awaited and scheduled. Here a
query is walked one level at a time instead: every selected field is resolved for all the
objects of its level at once through a *batch resolver* (the same DataLoaders the per-object
resolvers use), so the Python work grows with the size of the query text, not of the result.

Only what this module fully understands runs here: query operations over plain fields and the
fields in `BATCH_RESOLVERS`. Anything else — mutations, subscriptions, introspection, abstract
types, @defer, and every error or null in a non-null position — falls back to graphql-core,
which re-runs the whole operation and reports exactly as the spec says. Reads are side-effect
free, so running one twice is safe.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from operator import attrgetter
from typing import Any, TypeVar

from graphql import (
    ExecutionResult,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLSchema,
    GraphQLString,
    OperationType,
    is_leaf_type,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet, collect_fields
from graphql.execution.values import get_argument_values
from strawberry.extensions import SchemaExtension

from db.availability import database_unavailable
from graph.context import Context
from graph.extensions import masked

BatchResolver = Callable[..., Awaitable[Sequence[Any]]]
"""`(parents, context, **arguments) -> one value per parent`."""

T = TypeVar("T")
_SERIALIZED_AS_IS: dict[GraphQLOutputType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}
"""Scalars whose serialisation of a value of this exact class is the value itself."""
_DEFINITION = "strawberry-definition"


class _Executor(Executor[Context]):
    """graphql-core's executor, as far as this module uses it (the operation, its fragments and
    variables, memoised subfields), without the helpers it offers resolvers: those are bound
    methods of the executor kept on the executor, a reference cycle through which every
    request's objects would wait for the garbage collector. Nothing here builds a resolve info,
    the only reader of the helpers."""

    @property
    def async_helpers(self) -> GraphQLResolveInfoHelpers:
        return GraphQLResolveInfoHelpers(gather=self.gather_async_work, track=self.track_async_work)

    @async_helpers.setter
    def async_helpers(self, _: GraphQLResolveInfoHelpers) -> None:
        pass


class _Fallback(Exception):
    """This operation is for graphql-core to run."""


class LevelwiseExecution(SchemaExtension):
    """Serve read queries with `execute_levelwise` when it can; graphql-core otherwise."""

    def __init__(self, resolvers: dict[tuple[str, str], BatchResolver]) -> None:
        self.resolvers = resolvers

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            execution.result is None
            and execution.graphql_document is not None
            and isinstance(context, Context)
            and context.services.settings.dataloader_batching
        ):
            try:
                data = await execute_levelwise(
                    execution.schema._schema,
                    execution.graphql_document,
                    execution.variables,
                    execution.operation_name,
                    context,
                    self.resolvers,
                )
            except Exception as outage:  # graphql-core would only meet it again, after as long
                execution.result = ExecutionResult(data=None, errors=[masked(outage)])
            else:
                if data is not None:
                    execution.result = ExecutionResult(data=data)
        yield


async def execute_levelwise(
    schema: GraphQLSchema,
    document: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    context: Context,
    resolvers: dict[tuple[str, str], BatchResolver],
) -> dict[str, Any] | None:
    """The operation's `data`, or None when graphql-core must run it instead.

    A database that is unavailable (see `db.availability`) is raised instead: graphql-core
    would wait for it as long again, to report the same outage.
    """
    executor = _Executor.build(schema, document, None, context, variables, operation_name)
    if isinstance(executor, list) or executor.operation.operation != OperationType.QUERY:
        return None
    root = schema.query_type
    assert root is not None
    collected = collect_fields(schema, executor.fragments, executor.variable_values, root, executor.operation)
    if collected.new_defer_usages:
        return None
    run = _Run(executor, context, resolvers)
    try:
        [data] = await run.objects(root, collected.grouped_field_set, [None])
    except Exception as error:  # every other failure is graphql-core's to report, with its path
        outage = _outage(error)
        if outage is not None:
            raise outage from None
        return None
    return data


class _Run:
    """One operation's walk; `objects` and `values` recurse level by level."""

    def __init__(
        self, executor: Executor[Context], context: Context, resolvers: dict[tuple[str, str], BatchResolver]
    ) -> None:
        self.executor = executor
        self.context = context
        self.resolvers = resolvers

    async def objects(
        self, type_: GraphQLObjectType, fields: GroupedFieldSet, parents: list[Any]
    ) -> list[dict[str, Any]]:
        """The response maps of `parents`, all of type `type_`, for the selected `fields`."""
        results = [dict.fromkeys(fields) for _ in parents]
        # One field after the other: a request's reads take turns on its one connection
        # anyway (`db.engine.Reads`), so running siblings as tasks would only cost the tasks.
        for key, details in fields.items():
            if details[0].node.name.value == "__typename":
                for result in results:
                    result[key] = type_.name
            else:
                await self.field(type_, key, details, parents, results)
        return results

    async def field(
        self,
        type_: GraphQLObjectType,
        key: str,
        details: FieldDetailsList,
        parents: list[Any],
        results: list[dict[str, Any]],
    ) -> None:
        node = details[0].node
        field = type_.fields.get(node.name.value)
        if field is None or any(d.fragment_variable_values for d in details):
            raise _Fallback
        resolver = self.resolvers.get((type_.name, node.name.value))
        if resolver is not None:
            arguments = get_argument_values(field, node, self.executor.variable_values)
            values = list(await resolver(parents, self.context, **arguments))
        else:
            values = _read(field, parents)
        completed = await self.values(field.type, details, values)
        for result, value in zip(results, completed, strict=True):
            result[key] = value

    async def values(
        self, type_: GraphQLOutputType, details: FieldDetailsList, values: list[Any]
    ) -> list[Any]:
        """Complete `values` of one field for all parents: serialise, recurse into objects."""
        if isinstance(type_, GraphQLNonNull):
            if None in values:
                raise _Fallback
            type_ = type_.of_type
        if is_leaf_type(type_):
            serialize = type_.serialize
            plain = _SERIALIZED_AS_IS.get(type_)
            return [
                value if value is None or value.__class__ is plain else serialize(value) for value in values
            ]
        if isinstance(type_, GraphQLList):
            flat = [item for value in values if value is not None for item in value]
            completed = iter(await self.values(type_.of_type, details, flat))
            return [None if value is None else [next(completed) for _ in value] for value in values]
        if not isinstance(type_, GraphQLObjectType):
            raise _Fallback
        subfields = self.executor.collect_subfields(type_, details)
        if subfields.new_defer_usages:
            raise _Fallback
        present = [value for value in values if value is not None]
        maps = iter(await self.objects(type_, subfields.grouped_field_set, present))
        return [None if value is None else next(maps) for value in values]


def _outage(error: BaseException) -> BaseException | None:
    """The database outage behind `error`, looking inside the groups a TaskGroup raises."""
    if database_unavailable(error):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _outage(inner)
            if found is not None:
                return found
    return None


def _read(field: GraphQLField, parents: list[Any]) -> list[Any]:
    """A field without batch resolver: a plain attribute, or a synchronous resolver that needs
    nothing but its object (like `id`)."""
    definition = field.extensions.get(_DEFINITION)
    if definition is None:
        raise _Fallback
    resolver = definition.base_resolver
    if resolver is None:
        return list(map(attrgetter(definition.python_name), parents))
    function = resolver.wrapped_func
    if resolver.arguments or resolver.info_parameter or inspect.iscoroutinefunction(function):
        raise _Fallback
    return [function(parent) for parent in parents]


async def resolve_one(
    resolver: Callable[..., Awaitable[Sequence[T]]], parent: Any, context: Context, **arguments: Any
) -> T:
    """A batch resolver used for one object: how the per-object (graphql-core) resolvers call it."""
    [value] = await resolver([parent], context, **arguments)
    return value


def at_root(resolve: Callable[..., Awaitable[Any]]) -> BatchResolver:
    """A root field's resolver `(context, **arguments)` as a batch resolver (its parent is None)."""

    async def batch(parents: Sequence[Any], context: Context, **arguments: Any) -> list[Any]:
        return [await resolve(context, **arguments)]

    return batch
