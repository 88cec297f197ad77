"""Schema extensions: refusing bad tokens, coding and masking errors."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLError, parse
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


@lru_cache(maxsize=256)
def _parse(query: str, **options: Any) -> DocumentNode:
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
                context.graphql_document = _parse(context.query, **context.parse_options)
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
    error_id = uuid.uuid4().hex
    log.error("unexpected error %s", error_id, exc_info=original)
    return GraphQLError(
        "Internal server error",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
    )
