"""The served schema: every aggregate's queries, mutations and subscriptions merged, their
`later` batch resolvers bound (graph/batch.py), and the extensions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension, ValidationCache
from strawberry.types import ExecutionContext, ExecutionResult

from db.settings import Settings
from graph.article_mutations import ArticleMutations
from graph.articles import ArticleQueries
from graph.batch import bind_later
from graph.comments import CommentMutations, CommentSubscriptions
from graph.errors import mask_unexpected
from graph.execution.extensions import (
    CachedParser,
    CodedErrors,
    OperationOverHTTP,
    RefuseInvalidToken,
)
from graph.execution.fallbacks import Fallbacks
from graph.execution.levelwise import Levelwise, LevelwiseExecution
from graph.execution.limits import limit_extensions
from graph.mutations import MutationTransaction, retrying, run_again
from graph.nodes import NodeQueries
from graph.tags import TagQueries
from graph.telemetry.requests import RecordOperation
from graph.telemetry.tracing import tracing_extensions
from graph.user_mutations import UserMutations
from graph.users import UserQueries


@strawberry.type(description="What can be read. Lists are pages of at most 100 (20 by default).")
class Query(NodeQueries, UserQueries, ArticleQueries, TagQueries):
    """Every aggregate's queries, merged."""


@strawberry.type(
    description="What can be changed. Each mutation returns a payload whose `errors` carry its "
    "expected failures, and every object it changed (with its `id`), for client caches."
)
class Mutation(UserMutations, ArticleMutations, CommentMutations):
    """Every aggregate's mutations, merged."""


@strawberry.type(description="What can be listened to, over WebSocket (graphql-transport-ws).")
class Subscription(CommentSubscriptions):
    """Every aggregate's subscriptions, merged."""


bind_later()  # every aggregate is imported by now: see graph/batch.py


class ConduitSchema(strawberry.Schema):
    """The schema, with the level-wise executor of its fields (set by `create_schema`)."""

    levelwise: Levelwise

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Logging happens in `CodedErrors`, which knows which errors are unexpected."""

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        """Over a WebSocket: a mutation that conflicted runs again before its one result is
        sent (`run_again`); what a subscription streams passes through as it comes."""
        return self._retried_stream(_context_of(args, kwargs), args, kwargs)

    async def _retried_stream(self, context: object, args: Any, kwargs: Any) -> AsyncIterator[Any]:
        attempt = 1
        while True:
            source = await super().stream(*args, **kwargs)
            async with aclosing(source):
                first = True
                async for result in source:
                    if first and await run_again(context, attempt):
                        break
                    first = False
                    yield result
                else:
                    return
            attempt += 1

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Runs a mutation again that conflicted (`retrying`); also masks what escaped the
        extensions (e.g. an exception inside a validation rule)."""
        context = _context_of(args, kwargs)
        result = await retrying(lambda: super(ConduitSchema, self).execute(*args, **kwargs), context)
        if result.errors:
            result.errors = mask_unexpected(result.errors)
        return result


def _context_of(args: Any, kwargs: Any) -> object:
    """The `context_value` of a call to `execute` or `stream`, given by name or position."""
    return kwargs.get("context_value", args[2] if len(args) > 2 else None)


def create_schema(settings: Settings) -> ConduitSchema:
    """The schema with its extensions; their order is the order of their hooks' first halves.

    The limits set the parse options and add their validation rules in `on_operation`, before
    any parsing or validation; the validation cache keys on those rules, so it never skips
    them. The cost is refused within validation, once the validation cache has found the
    document valid.
    """
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        RecordOperation,
        *tracing_extensions(settings),
        CachedParser,
        ValidationCache,
        *limit_extensions(settings),  # after the validation cache: see `CostLimit.on_validate`
        RefuseInvalidToken,
        OperationOverHTTP,
        CodedErrors,
        MutationTransaction,  # after the refusals: a refused request opens no transaction
        LevelwiseExecution,
    ]
    schema = ConduitSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
    )
    schema.levelwise = Levelwise(schema, Fallbacks())
    return schema
