"""Errors as clients see them: user errors in payloads, coded GraphQL errors for requests."""

from __future__ import annotations

from enum import Enum

import strawberry
from graphql import GraphQLError

from db.errors import DomainError, Invalids, TooManyRequests


@strawberry.enum(description="Why a mutation refused its input.")
class UserErrorCode(Enum):
    INVALID = strawberry.enum_value(
        "INVALID", description="A value breaks a rule (empty, too long, malformed)."
    )
    TAKEN = strawberry.enum_value("TAKEN", description="A unique value (username, email) is already in use.")
    NOT_FOUND = "NOT_FOUND"
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
    message: str
    code: UserErrorCode
    retry_after: int | None = strawberry.field(
        default=None,
        description="With TOO_MANY_REQUESTS: seconds to wait before trying again; null otherwise.",
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


class RequestError(GraphQLError):
    """A request-level failure with `extensions.code`; safe to show to the client as it is."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class BadUserInput(RequestError):
    code = "BAD_USER_INPUT"


class Unauthenticated(RequestError):
    code = "UNAUTHENTICATED"


class Forbidden(RequestError):
    code = "FORBIDDEN"


class ServiceUnavailable(RequestError):
    """The database (or the comment listener) cannot serve right now: the client may retry.

    Never a bug of the request; `graph.execution.extensions` reports database outages with this code.
    """

    code = "SERVICE_UNAVAILABLE"
