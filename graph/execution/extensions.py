"""Schema extensions: refusing bad tokens and operations HTTP does not serve, caching parsed
documents, and applying the error policy of graph/errors.py to every result."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
)
from strawberry.extensions import SchemaExtension

from graph.context import Context
from graph.errors import RequestCode, code_errors, mask_unexpected


class RefuseInvalidToken(SchemaExtension):
    """A request with a bad token fails as a whole: it is never served as anonymous."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.auth_error is not None:
            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[GraphQLError(context.auth_error, extensions={"code": RequestCode.UNAUTHENTICATED})],
            )
        yield


class OperationOverHTTP(SchemaExtension):
    """What an HTTP request may run, as the GraphQL spec and our transport have it.

    A document of several operations must name the one to run (Strawberry ran the first);
    a subscription is served over the WebSocket on the same path and over Server-Sent Events
    on /graphql/stream, not over plain HTTP (Strawberry ran it as a query and failed inside
    it). Both are request errors: nothing runs.
    """

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        context = execution.context
        if execution.result is None and document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            # Strawberry's `operation_name` falls back to the first operation's: ask what was sent.
            provided = getattr(execution, "_provided_operation_name", execution.operation_name)
            if provided is None and len(operations) > 1:
                execution.result = _refused(
                    "Must provide operation name if query contains multiple operations.",
                    RequestCode.BAD_USER_INPUT,
                )
            elif isinstance(context, Context) and context.over_http and _subscribes(document, execution):
                execution.result = _refused(
                    "Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql, "
                    "and over Server-Sent Events (graphql-sse) on /graphql/stream.",
                    RequestCode.BAD_REQUEST,
                )
        yield


def _subscribes(document: DocumentNode, execution: Any) -> bool:
    operation = get_operation_ast(document, execution.operation_name)
    return operation is not None and operation.operation == OperationType.SUBSCRIPTION


def _refused(message: str, code: RequestCode) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


@lru_cache(maxsize=512)
def parse_document(query: str, **options: Any) -> DocumentNode:
    """`query` parsed, once per distinct text and options in this process: the query lane and
    the general path share it, so no document is parsed twice."""
    return parse(query, **options)


class CachedParser(SchemaExtension):
    """Parse each distinct document once (with the same parse options, e.g. `max_tokens`).

    Unlike strawberry's `ParserCache`, a document that fails to parse is left to the normal
    parsing step, so its error is reported and coded like any parse error.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is None:
            with suppress(GraphQLError):
                context.graphql_document = parse_document(context.query, **context.parse_options)
        yield


class CodedErrors(SchemaExtension):
    """Give every error an `extensions.code`; replace unexpected ones by a masked error.

    A masked error carries an `errorId` that the log repeats next to the traceback, so an
    operator can find what a client reports without the client seeing internals. Messages
    never suggest names ("Did you mean …?"): that would map a hidden schema for anyone.
    """

    def on_parse(self) -> Iterator[None]:
        yield
        code_errors(self.execution_context.pre_execution_errors, RequestCode.GRAPHQL_PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        code_errors(self.execution_context.pre_execution_errors, RequestCode.GRAPHQL_VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, ExecutionResult) and result.data is None and result.errors:
            # Errors outside any field: the variables could not be coerced.
            code_errors([error for error in result.errors if error.path is None], RequestCode.BAD_USER_INPUT)

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = mask_unexpected(result.errors)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """A subscription's results are sent one by one, long before its operation ends."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = mask_unexpected(errors)
        yield
