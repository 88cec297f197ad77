"""Schema extensions: refusing bad tokens, coding and masking errors."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
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
from strawberry.schema.exceptions import InvalidOperationTypeError

from db.availability import database_unavailable
from graph.context import Context
from graph.errors import ServiceUnavailable

log = logging.getLogger("conduit.errors")


class RefuseInvalidToken(SchemaExtension):
    """A request with a bad token fails as a whole: it is never served as anonymous."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.auth_error is not None:
            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[GraphQLError(context.auth_error, extensions={"code": "UNAUTHENTICATED"})],
            )
        yield


class OperationOverHTTP(SchemaExtension):
    """What an HTTP request may run, as the GraphQL spec and our transport have it.

    A document of several operations must name the one to run (Strawberry ran the first);
    a subscription is served over the WebSocket on the same path, not over HTTP (Strawberry
    ran it as a query and failed inside it). Both are request errors: nothing runs.
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
                    "BAD_USER_INPUT",
                )
            elif isinstance(context, Context) and context.over_http and _subscribes(document, execution):
                execution.result = _refused(
                    "Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql.",
                    "BAD_REQUEST",
                )
        yield


def _subscribes(document: DocumentNode, execution: Any) -> bool:
    operation = get_operation_ast(document, execution.operation_name)
    return operation is not None and operation.operation == OperationType.SUBSCRIPTION


def _refused(message: str, code: str) -> ExecutionResult:
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
        _code(self.execution_context.pre_execution_errors, "GRAPHQL_PARSE_FAILED")

    def on_validate(self) -> Iterator[None]:
        yield
        _code(self.execution_context.pre_execution_errors, "GRAPHQL_VALIDATION_FAILED")

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, ExecutionResult) and result.data is None and result.errors:
            # Errors outside any field: the variables could not be coerced.
            _code([error for error in result.errors if error.path is None], "BAD_USER_INPUT")

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


def mask_unexpected(errors: Sequence[GraphQLError]) -> list[GraphQLError]:
    """The errors a client may see: coded, unexpected ones masked (and logged), no suggestions.

    Idempotent, so a result that went through `CodedErrors` can safely go through again.
    """
    return [_safe(error) for error in errors]


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _code(errors: Sequence[GraphQLError] | None, code: str) -> None:
    for error in errors or ():
        if error.extensions is None:
            error.extensions = {}
        error.extensions.setdefault("code", code)
        error.message = _SUGGESTION.sub("", error.message)


def _safe(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        _code([error], "BAD_USER_INPUT")
        return error
    return masked(original, nodes=error.nodes, path=error.path)


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."
ONLY_SUBSCRIPTIONS = (
    "graphql-ws serves subscriptions only: send queries and mutations over HTTP or graphql-transport-ws."
)


def masked(
    exception: BaseException, *, nodes: Any = None, path: Sequence[str | int] | None = None
) -> GraphQLError:
    """What a client sees of an unexpected exception, logged with the `errorId` it carries.

    A database that cannot be reached or answers too late is `SERVICE_UNAVAILABLE`, logged as
    one warning line (an outage would otherwise fill the log with identical tracebacks);
    a query or a mutation sent over graphql-ws (which subscribes to what it is sent) is
    `BAD_REQUEST`; anything else is `INTERNAL_SERVER_ERROR` with its traceback. Also for code outside
    GraphQL execution (an HTTP fast path) that catches an exception and must answer.
    """
    if isinstance(exception, InvalidOperationTypeError):
        # Strawberry's graphql-ws handler subscribes to whatever it is sent: a client's mistake.
        return GraphQLError(ONLY_SUBSCRIPTIONS, nodes=nodes, path=path, extensions={"code": "BAD_REQUEST"})
    error_id = uuid.uuid4().hex
    if database_unavailable(exception):
        log.warning("database unavailable %s: %s", error_id, _describe(exception))
        message, code = DATABASE_UNAVAILABLE, ServiceUnavailable.code
    else:
        log.error("unexpected error %s", error_id, exc_info=exception)
        message, code = "Internal server error", "INTERNAL_SERVER_ERROR"
    return GraphQLError(message, nodes=nodes, path=path, extensions={"code": code, "errorId": error_id})


def _describe(exception: BaseException) -> str:
    """The exception's kind and its driver's, never its text (which may quote parameters)."""
    kinds = [type(exception).__name__]
    original = getattr(exception, "orig", None)
    if original is not None:
        kinds.append(type(original).__name__)
        code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
        if code:
            kinds.append(str(code))
    return " / ".join(kinds)
