"""Level-by-level execution of read queries: one step per field of the query, not per object.

graphql-core resolves a query field by field and object by object: for 50 articles with 10
comments each that is thousands of resolver calls, each wrapped, awaited and scheduled. Here a
query is walked one level at a time instead: every selected field is resolved for all the
objects of its level at once through its *batch resolver* (declared on the field, see
graph/batch.py; the same DataLoaders the per-object resolvers use), so the Python work grows
with the size of the query text, not of the result.

Only what this module fully understands runs here: query operations over plain fields, fields
declared with a batch resolver, object types and the interfaces and unions over them. Anything
else — introspection, @defer, and every error or null in a non-null position — raises
`Fallback` with its reason, and the operation is run by graphql-core instead, which reports
exactly as the spec says; `graph.execution.fallbacks` counts and logs every such hand-off. Reads are side
effect free, so running one twice is safe, and graphql-core reuses the loaders' cached rows.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, cast

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLError,
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
    get_operation_ast,
    is_leaf_type,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet, collect_fields
from graphql.execution.values import get_argument_values
from strawberry.extensions import SchemaExtension
from strawberry.types.arguments import convert_arguments

from graph.batch import BatchResolver, batch_of, wants_selection
from graph.context import Context
from graph.errors import masked
from graph.execution.fallbacks import Fallbacks
from graph.selection import selected_under

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


class Fallback(Exception):
    """This operation is for graphql-core to run; `reason` says why (a metric label)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LevelwiseExecution(SchemaExtension):
    """Serve read queries with the schema's `Levelwise` when it can; graphql-core otherwise.

    A request the query lane already tried (its context says so) is not tried again: the lane
    hands such a request to graphql-core through this very path.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        levelwise = getattr(execution.schema, "levelwise", None)
        document = execution.graphql_document
        if (
            execution.result is None
            and document is not None
            and isinstance(context, Context)
            and isinstance(levelwise, Levelwise)
            and context.levelwise_tried is None
            and is_query(document, execution.operation_name)
            and context.services.settings.dataloader_batching
        ):
            try:
                variables, name = execution.variables, execution.operation_name
                data = await levelwise.execute(document, variables, name, context)
            except Fallback as fallback:
                context.levelwise_tried = fallback.reason
                levelwise.fallbacks.report(execution.query, fallback.reason, execution.operation_name)
            except Exception as error:  # an outage or a bug: graphql-core would only meet it again
                execution.result = ExecutionResult(data=None, errors=[masked(error)])
            else:
                execution.result = ExecutionResult(data=data)
        yield


def is_query(document: DocumentNode, operation_name: str | None) -> bool:
    """Whether the operation to run is a query (mutations and subscriptions are graphql-core's)."""
    operation = get_operation_ast(document, operation_name)
    return operation is not None and operation.operation == OperationType.QUERY


class Levelwise:
    """The level-wise executor of one schema: the batch resolvers its fields declared
    (graph/batch.py), found once, and how to convert arguments as Strawberry does."""

    def __init__(self, schema: strawberry.Schema, fallbacks: Fallbacks) -> None:
        self.schema = schema
        self.graphql_schema: GraphQLSchema = schema._schema
        self.fallbacks = fallbacks
        self.batches = batch_table(self.graphql_schema)

    async def execute(
        self,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> dict[str, Any]:
        """The operation's `data`; `Fallback` when graphql-core must run it instead.

        Anything else raised is the caller's to answer (masked): a database outage, which
        graphql-core would wait for as long again, or a bug, which must not hide behind a
        silent second execution.
        """
        schema = self.graphql_schema
        executor = _Executor.build(schema, document, None, context, variables, operation_name)
        if isinstance(executor, list):
            raise Fallback("invalid_variables")
        if executor.operation.operation != OperationType.QUERY:
            raise Fallback("not_a_query")
        root = schema.query_type
        assert root is not None
        collected = collect_fields(
            schema, executor.fragments, executor.variable_values, root, executor.operation
        )
        if collected.new_defer_usages:
            raise Fallback("defer")
        run = _Run(self, executor, context)
        try:
            [data] = await run.objects(root, collected.grouped_field_set, [None])
        except GraphQLError:
            raise Fallback("error") from None  # graphql-core reports it with its path
        return data


def batch_table(schema: GraphQLSchema) -> dict[tuple[str, str], Batch]:
    """Every field of `schema` declared with a batch resolver, by (type name, field name)."""
    table: dict[tuple[str, str], Batch] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get(_DEFINITION)
            resolver = getattr(definition, "base_resolver", None)
            batch = batch_of(resolver.wrapped_func) if resolver is not None else None
            if batch is not None:
                table[type_.name, name] = Batch(batch, definition, wants_selection(batch))
    return table


@dataclass(frozen=True, slots=True)
class Batch:
    """A field's batch resolver and its Strawberry definition (for its arguments)."""

    resolve: BatchResolver
    definition: Any
    selects: bool
    """Whether the batch resolver reads objects and is told what the query selects of them."""


class _Run:
    """One operation's walk; `objects` and `values` recurse level by level."""

    def __init__(self, levelwise: Levelwise, executor: Executor[Context], context: Context) -> None:
        self.levelwise = levelwise
        self.executor = executor
        self.context = context

    async def objects(
        self, type_: GraphQLObjectType, fields: GroupedFieldSet, parents: list[Any]
    ) -> list[dict[str, Any]]:
        """The response maps of `parents`, all of type `type_`, for the selected `fields`. A level
        without objects (an empty page's nodes) asks its fields for nothing: no statement."""
        if not parents:
            return []
        results = [dict.fromkeys(fields) for _ in parents]
        # One field after the other: a request's reads take turns on its one connection
        # anyway (`db.sql.reads.RequestReads`), so running siblings as tasks would only cost the tasks.
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
        if field is None:
            raise Fallback("introspection")
        if any(d.fragment_variable_values for d in details):
            raise Fallback("fragment_variables")
        batch = self.levelwise.batches.get((type_.name, node.name.value))
        if batch is not None:
            arguments = self.arguments(batch, field, node)
            if batch.selects:
                executor = self.executor
                nodes = [detail.node for detail in details]
                arguments["selected"] = selected_under(nodes, executor.fragments, executor.variable_values)
            values = list(await batch.resolve(parents, self.context, **arguments))
        else:
            values = _read(field, parents)
        completed = await self.values(field.type, details, values)
        for result, value in zip(results, completed, strict=True):
            result[key] = value

    def arguments(self, batch: Batch, field: GraphQLField, node: Any) -> dict[str, Any]:
        """The field's arguments as Strawberry passes them: Python names, input objects."""
        if not field.args:
            return {}
        raw = get_argument_values(field, node, self.executor.variable_values)
        schema = self.levelwise.schema
        return convert_arguments(
            raw,
            batch.definition.arguments,
            scalar_registry=schema.schema_converter.scalar_registry,
            config=schema.config,
        )

    async def values(
        self, type_: GraphQLOutputType, details: FieldDetailsList, values: list[Any]
    ) -> list[Any]:
        """Complete `values` of one field for all parents: serialise, recurse into objects."""
        if isinstance(type_, GraphQLNonNull):
            if None in values:
                raise Fallback("null")  # graphql-core reports the error, with its path
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
        if isinstance(type_, GraphQLObjectType):
            return await self.of_type(type_, details, values)
        return await self.abstract(cast("GraphQLAbstractType", type_), details, values)

    async def of_type(
        self, type_: GraphQLObjectType, details: FieldDetailsList, values: list[Any]
    ) -> list[Any]:
        subfields = self.executor.collect_subfields(type_, details)
        if subfields.new_defer_usages:
            raise Fallback("defer")
        present = [value for value in values if value is not None]
        maps = iter(await self.objects(type_, subfields.grouped_field_set, present))
        return [None if value is None else next(maps) for value in values]

    async def abstract(
        self, type_: GraphQLAbstractType, details: FieldDetailsList, values: list[Any]
    ) -> list[Any]:
        """Values of an interface or union: each object completed as its own type, the
        objects of one type together (a `node(id:)` of any type, `nodes(ids:)` of several)."""
        schema = self.levelwise.graphql_schema
        by_type: dict[str, list[int]] = {}
        for index, value in enumerate(values):
            if value is not None:
                by_type.setdefault(_type_name(value), []).append(index)
        completed: list[Any] = [None] * len(values)
        for name, indexes in by_type.items():
            concrete = schema.type_map.get(name)
            if not isinstance(concrete, GraphQLObjectType) or not schema.is_sub_type(type_, concrete):
                raise Fallback("abstract_type")
            maps = await self.of_type(concrete, details, [values[index] for index in indexes])
            for index, result in zip(indexes, maps, strict=True):
                completed[index] = result
        return completed


def _type_name(value: Any) -> str:
    """The GraphQL type of a Strawberry object (how Strawberry resolves abstract types)."""
    definition = getattr(type(value), "__strawberry_definition__", None)
    if definition is None:
        raise Fallback("abstract_type")
    name: str = definition.name
    return name


def _read(field: GraphQLField, parents: list[Any]) -> list[Any]:
    """A field without batch resolver: a plain attribute, or a synchronous resolver that needs
    nothing but its object (like `id`)."""
    definition = field.extensions.get(_DEFINITION)
    if definition is None:
        raise Fallback("not_strawberry")
    resolver = definition.base_resolver
    if resolver is None:
        return list(map(attrgetter(definition.python_name), parents))
    function = resolver.wrapped_func
    if resolver.arguments or resolver.info_parameter or inspect.iscoroutinefunction(function):
        raise Fallback("not_batched")  # a field that reads must declare its batch resolver
    return [function(parent) for parent in parents]
