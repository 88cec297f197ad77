"""What each HTTP request did: one access log line, its metrics, its SQL statement count.

`RequestObserver`, a pure ASGI middleware, opens a `RequestRecord` per HTTP request in a
context variable. While the request runs, three things write into it:

- `record_operation(name, error_codes, operation_type)`, the ONE way to say which GraphQL
  operation the request ran and which error codes it answered. `RecordOperation`, a schema
  extension, calls it for every operation that goes through Strawberry; a path that bypasses
  Strawberry calls it itself.
- a `before_cursor_execute` listener on the engine (`count_statements`), once per statement.
  The record is one mutable object, so statements run in tasks the request started (the
  DataLoader batches) count too: a task copies the context, and with it the same record.
- the response's status, seen on its way out, with the `X-Request-ID` header added.

When the response is sent, the middleware logs the line (only if INFO is enabled: with
LOG_LEVEL=WARNING nothing is built) and counts the request in the app's `Metrics`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import count
from time import perf_counter
from typing import Any

import structlog
from graphql import GraphQLError, get_operation_ast
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from structlog.typing import EventDict

from graph.errors import RequestCode, refusal_code
from graph.telemetry.metrics import Metrics

ACCESS_LOGGER = "conduit.access"
REQUEST_ID_HEADER = b"x-request-id"
#: An incoming request id is kept only when it is short and can't break a log line or a header.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


@dataclass(slots=True)
class RequestRecord:
    """What one request did, filled in while it runs."""

    request_id: str
    sql_statements: int = 0
    graphql: bool = False
    operation_name: str | None = None
    operation_type: str | None = None
    error_codes: tuple[str, ...] = ()
    fallback: str | None = None
    """Why the level-wise executor handed the operation to graphql-core (see graph/execution/fallbacks.py)."""


_current: ContextVar[RequestRecord | None] = ContextVar("conduit_request", default=None)


def record_operation(
    name: str | None, error_codes: Iterable[str] = (), operation_type: str | None = None
) -> None:
    """Note the GraphQL operation the current request ran and the error codes it answered.

    `name` is the operation's name (None when anonymous), `error_codes` every
    `extensions.code` of the response's errors and every `code` of its mutation payloads'
    user errors (`error_codes_of` finds both), `operation_type` "query", "mutation" or
    "subscription" (None when the document did not parse). A second call replaces the
    first. Outside a request (a WebSocket operation, a test) it does nothing.
    """
    record = _current.get()
    if record is None:
        return
    record.graphql = True
    record.operation_name = name
    record.operation_type = operation_type
    record.error_codes = tuple(error_codes)


def record_fallback(reason: str) -> None:
    """Note that the current request's operation was handed to graphql-core, and why."""
    record = _current.get()
    if record is not None:
        record.fallback = reason


def error_codes_of(errors: Sequence[GraphQLError] | None, data: object) -> list[str]:
    """The codes of a result: its errors' `extensions.code`, then the `code` of each user
    error in the payloads of its root fields (where mutations report them)."""
    codes = (
        [str((e.extensions or {}).get("code", RequestCode.INTERNAL_SERVER_ERROR)) for e in errors]
        if errors
        else []
    )
    if isinstance(data, dict):
        for payload in data.values():
            user_errors = payload.get("errors") if isinstance(payload, dict) else None
            if isinstance(user_errors, list):
                codes.extend(e["code"] for e in user_errors if isinstance(e, dict) and "code" in e)
    return codes


def operation_type_of(execution: ExecutionContext) -> str | None:
    """The operation's type ("query", "mutation", "subscription"); None if it can't be known."""
    document = execution.graphql_document
    operation = None if document is None else get_operation_ast(document, execution.operation_name)
    return None if operation is None else operation.operation.value


class RecordOperation(SchemaExtension):
    """Reports each operation Strawberry runs through `record_operation`.

    It uses `get_results`, which Strawberry calls once an operation's result is known: a
    generator hook like `on_operation` would cost a context manager built per request.
    Errors are coded by then, except unexpected ones caught before execution, which are
    masked later and so counted as INTERNAL_SERVER_ERROR, as they are answered.
    """

    def get_results(self) -> dict[str, Any]:
        if _current.get() is not None:
            execution = self.execution_context
            result = execution.result
            errors = result.errors if result is not None else execution.pre_execution_errors
            data = result.data if result is not None else None
            record_operation(
                execution.operation_name, error_codes_of(errors, data), operation_type_of(execution)
            )
        return {}


def count_statements(engine: AsyncEngine) -> None:
    """Count every SQL statement the engine runs into the current request's record."""
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)


def _count_statement(*_: Any) -> None:
    record = _current.get()
    if record is not None:
        record.sql_statements += 1


def add_request_id(_: Any, __: str, event: EventDict) -> EventDict:
    """structlog processor: the current request's id, on every line written while it runs."""
    record = _current.get()
    if record is not None:
        event.setdefault("request_id", record.request_id)
    return event


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _SAFE_REQUEST_ID.fullmatch(value) else None
    return None


class RequestObserver:
    """Pure ASGI middleware (Starlette's `BaseHTTPMiddleware` costs far more per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None, graphql_path: str = "/graphql") -> None:
        self.app = app
        self.metrics = metrics
        self.graphql_path = graphql_path
        self.access = logging.getLogger(ACCESS_LOGGER)
        self.log = structlog.stdlib.get_logger(ACCESS_LOGGER)
        # Ids made here: unique (a random prefix per process, then a count) and cheap to make.
        self._prefix = secrets.token_hex(8)
        self._sequence = count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        record = RequestRecord(_client_request_id(scope) or f"{self._prefix}{next(self._sequence):016x}")
        token = _current.set(record)
        status = 500
        header = (REQUEST_ID_HEADER, record.request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._finish(scope, record, status, perf_counter() - start)
            finally:
                _current.reset(token)

    def _finish(self, scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
        is_graphql = record.graphql or scope["path"] == self.graphql_path
        codes = record.error_codes
        if is_graphql and not codes and status >= 400:
            codes = (refusal_code(status),)
        if self.metrics is not None and is_graphql:
            self.metrics.observe(record.operation_name, record.operation_type, codes, seconds)
            if record.fallback is not None:
                self.metrics.fallback(record.fallback)
        if not self.access.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "sql_statements": record.sql_statements,
        }
        if is_graphql:
            fields["operation_name"] = record.operation_name and record.operation_name[:100]
            fields["operation_type"] = record.operation_type
        if codes:
            fields["error_codes"] = list(dict.fromkeys(codes))
        self.log.info("request", **fields)
