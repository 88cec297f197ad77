"""Typed domain errors: expected failures that an interface reports to its caller as data."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    TAKEN = "TAKEN"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    BAD_CREDENTIALS = "BAD_CREDENTIALS"
    CONFLICT = "CONFLICT"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"


class DomainError(Exception):
    """A broken domain rule; `field` names the input at fault (snake_case path, may be empty)."""

    code: ErrorCode = ErrorCode.INVALID

    def __init__(self, message: str, *, field: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    code = ErrorCode.INVALID


class Taken(DomainError):
    code = ErrorCode.TAKEN


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class BadCredentials(DomainError):
    code = ErrorCode.BAD_CREDENTIALS


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class TooManyRequests(DomainError):
    """Refused without looking: too many attempts; `retry_after` says in how many seconds to retry."""

    code = ErrorCode.TOO_MANY_REQUESTS

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Invalids(DomainError):
    """Several independent `Invalid` findings about one input, reported together."""

    def __init__(self, errors: list[DomainError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors
