"""Errors as clients see them, and the one policy that codes and masks them.

- `UserErrorCode`/`UserError`/`user_errors`: a mutation's expected failures, as data.
- `RequestCode`: every request-level `extensions.code` the server sends (README "Error codes"
  lists exactly these); `REFUSAL_CODES`: the code of each HTTP-level refusal, by status.
- `RequestError` and its family: request errors raised by resolvers, safe to show.
- `mask_unexpected`/`masked`: what a client sees of anything else (coded, masked, logged).
- `NotSignedIn`: the domain error of a mutation that needs a viewer.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from enum import Enum, StrEnum
from typing import Any

import strawberry
from graphql import GraphQLError

from db.errors import DomainError, ErrorCode, Invalids, TooManyRequests
from db.sql.availability import database_unavailable

log = logging.getLogger("conduit.errors")


class RequestCode(StrEnum):
    """Every `extensions.code` of a request-level error the server sends: no other module spells
    one (tests/test_architecture.py checks it, and that README "Error codes" lists exactly
    these)."""

    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    BAD_REQUEST = "BAD_REQUEST"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    IDEMPOTENT_RESPONSE_NOT_STORED = "IDEMPOTENT_RESPONSE_NOT_STORED"
    NOT_FOUND = "NOT_FOUND"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    FORBIDDEN = "FORBIDDEN"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    REQUEST_HEADER_FIELDS_TOO_LARGE = "REQUEST_HEADER_FIELDS_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    TRUSTED_DOCUMENT_REQUIRED = "TRUSTED_DOCUMENT_REQUIRED"


#: The code of each refusal made at the HTTP level, before any operation runs.
REFUSAL_CODES = {
    400: RequestCode.BAD_REQUEST,
    401: RequestCode.UNAUTHENTICATED,
    403: RequestCode.FORBIDDEN,
    404: RequestCode.NOT_FOUND,
    405: RequestCode.METHOD_NOT_ALLOWED,
    413: RequestCode.PAYLOAD_TOO_LARGE,
    415: RequestCode.UNSUPPORTED_MEDIA_TYPE,
    500: RequestCode.INTERNAL_SERVER_ERROR,
    503: RequestCode.SERVICE_UNAVAILABLE,
}


def refusal_code(status: int) -> RequestCode:
    """The code of an HTTP-level refusal with `status`, also one not in `REFUSAL_CODES`."""
    fallback = RequestCode.INTERNAL_SERVER_ERROR if status >= 500 else RequestCode.BAD_REQUEST
    return REFUSAL_CODES.get(status, fallback)


@strawberry.enum(description="Why a mutation refused its input.")
class UserErrorCode(Enum):
    INVALID = strawberry.enum_value(
        "INVALID", description="A value breaks a rule (empty, too long, malformed)."
    )
    TAKEN = strawberry.enum_value("TAKEN", description="A unique value (username, email) is already in use.")
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="What the input names (an article, a comment, a user) does not exist."
    )
    FORBIDDEN = strawberry.enum_value(
        "FORBIDDEN",
        description="The viewer is signed in but may not do this (e.g. edit another's article).",
    )
    UNAUTHENTICATED = strawberry.enum_value(
        "UNAUTHENTICATED", description="This mutation needs a signed-in viewer."
    )
    BAD_CREDENTIALS = strawberry.enum_value("BAD_CREDENTIALS", description="Email or password is wrong.")
    CONFLICT = strawberry.enum_value(
        "CONFLICT",
        description="The object changed since the client read it (see expectedUpdatedAt).",
    )
    TOO_MANY_REQUESTS = strawberry.enum_value(
        "TOO_MANY_REQUESTS",
        description="Refused without being tried: too many attempts; retry after retryAfter seconds.",
    )


@strawberry.type(description="An expected failure of a mutation, reported as data.")
class UserError:
    field: list[str] = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "email"]; '
        "empty when not tied to one field."
    )
    message: str = strawberry.field(description="What is wrong, in English, for a person to read.")
    code: UserErrorCode = strawberry.field(description="What is wrong, for a program to act on.")
    retry_after: int | None = strawberry.field(
        default=None,
        description="With TOO_MANY_REQUESTS: seconds to wait before trying again; null otherwise.",
    )


PAYLOAD_ERRORS = (
    "Every expected failure of the mutation (input breaking a rule, a conflict, a permission), "
    "as data; empty when it succeeded. Nothing changed when it is not empty."
)


def user_errors(error: DomainError, prefix: tuple[str, ...] = ("input",)) -> list[UserError]:
    """The payload errors for a domain error; `prefix` is where the mutation's input sits."""
    found = error.errors if isinstance(error, Invalids) else [error]
    return [
        UserError(
            field=[*prefix, *(_camel(part) for part in e.field)] if e.field else [],
            message=e.message,
            code=UserErrorCode(e.code.value),
            retry_after=e.retry_after if isinstance(e, TooManyRequests) else None,
        )
        for e in found
    ]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class NotSignedIn(DomainError):
    """A mutation that needs a viewer, run anonymously: an UNAUTHENTICATED user error."""

    code = ErrorCode.UNAUTHENTICATED


class RequestError(GraphQLError):
    """A request-level failure with `extensions.code`; safe to show to the client as it is."""

    code = RequestCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class BadUserInput(RequestError):
    code = RequestCode.BAD_USER_INPUT


class Unauthenticated(RequestError):
    code = RequestCode.UNAUTHENTICATED


class Forbidden(RequestError):
    code = RequestCode.FORBIDDEN


class ServiceUnavailable(RequestError):
    """The database (or the comment listener) cannot serve right now: the client may retry.

    Never a bug of the request; `masked` reports database outages with this code.
    """

    code = RequestCode.SERVICE_UNAVAILABLE


def mask_unexpected(errors: Sequence[GraphQLError]) -> list[GraphQLError]:
    """The errors a client may see: coded, unexpected ones masked (and logged), no suggestions.

    Idempotent, so a result that went through `CodedErrors` can safely go through again.
    """
    return [_safe(error) for error in errors]


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def code_errors(errors: Sequence[GraphQLError] | None, code: RequestCode) -> None:
    """Give each error `code` unless it has one, and drop "Did you mean" suggestions."""
    for error in errors or ():
        if error.extensions is None:
            error.extensions = {}
        error.extensions.setdefault("code", code)
        error.message = _SUGGESTION.sub("", error.message)


def _safe(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        code_errors([error], RequestCode.BAD_USER_INPUT)
        return error
    return masked(original, nodes=error.nodes, path=error.path)


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."


def masked(
    exception: BaseException, *, nodes: Any = None, path: Sequence[str | int] | None = None
) -> GraphQLError:
    """What a client sees of an unexpected exception, logged with the `errorId` it carries.

    A database that cannot be reached or answers too late is `SERVICE_UNAVAILABLE`, logged as
    one warning line (an outage would otherwise fill the log with identical tracebacks);
    anything else is `INTERNAL_SERVER_ERROR` with its traceback. Also for code outside
    GraphQL execution (an HTTP fast path) that catches an exception and must answer.
    """
    error_id = uuid.uuid4().hex
    if database_unavailable(exception):
        log.warning("database unavailable %s: %s", error_id, _describe(exception))
        message, code = DATABASE_UNAVAILABLE, RequestCode.SERVICE_UNAVAILABLE
    else:
        log.error("unexpected error %s", error_id, exc_info=exception)
        message, code = "Internal server error", RequestCode.INTERNAL_SERVER_ERROR
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
