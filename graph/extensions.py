"""Schema extensions: refusing bad tokens, coding and masking errors."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension

from graph.context import Context

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


class CodedErrors(SchemaExtension):
    """Give every error an `extensions.code`; replace unexpected ones by a masked error.

    A masked error carries an `errorId` that the log repeats next to the traceback, so an
    operator can find what a client reports without the client seeing internals.
    """

    def on_parse(self) -> Iterator[None]:
        yield
        _code(self.execution_context.pre_execution_errors, "GRAPHQL_PARSE_FAILED")

    def on_validate(self) -> Iterator[None]:
        yield
        _code(self.execution_context.pre_execution_errors, "GRAPHQL_VALIDATION_FAILED")

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [_safe(error) for error in result.errors]


def _code(errors: list[GraphQLError] | None, code: str) -> None:
    for error in errors or ():
        if error.extensions is None:
            error.extensions = {}
        error.extensions.setdefault("code", code)


def _safe(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        _code([error], "BAD_USER_INPUT")
        return error
    error_id = uuid.uuid4().hex
    log.error("unexpected error %s", error_id, exc_info=original)
    return GraphQLError(
        "Internal server error",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
    )
