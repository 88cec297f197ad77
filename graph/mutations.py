"""A mutation operation is one transaction, committed once its response is built.

The choice, and why. A mutation used to commit inside its resolver; its payload
(`article { tagList author … }`) was read afterwards, on the request's read connection. A
failure in between answered "The database is unavailable; try again shortly." about a write
that was stored: a client that retried made a duplicate. Keeping per-field commits and making
post-commit errors truthful would need every payload built from returned rows alone, and
still a stored response (for idempotent retries) could not share the write's transaction.
So instead:

- `MutationTransaction` (a schema extension, `on_execute` of mutation operations) checks, in
  the operation's transaction, that a signed-in viewer still exists (their row locked FOR KEY
  SHARE on PostgreSQL, so no deletion slips in before the writes; a viewer gone is
  UNAUTHENTICATED for the whole request) and claims an `Idempotency-Key`
  (graph/idempotency.py) before anything runs.
- Each mutation field writes in a SAVEPOINT of that transaction (`Context.unit_of_work`): a
  `DomainError` (user errors in the payload) undoes that field alone. graphql-core runs
  mutation fields one after another, each with its payload, so they never share the session.
- Payloads read through the transaction's session, seeing its writes; no read connection.
- Any error in the response (a payload read that failed, an unexpected exception) rolls the
  whole operation back and its `data` becomes null: the errors describe an operation that
  did not happen.
- The COMMIT comes last: at the end of execution, or, with an idempotency key, once the HTTP
  response is built and stored with it (`settle`). A COMMIT that fails is answered
  truthfully: the database refused it (nothing happened, SERVICE_UNAVAILABLE), or the
  connection was lost during it, so the outcome is unknown (OUTCOME_UNKNOWN, which points
  at the idempotency key: a retry with it is answered either way, and never runs twice).

On SQLite the transaction holds the process's write turn for the operation's length.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from graphql import ExecutionResult, GraphQLError
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

import db.users
from db.sql.availability import serialization_failure
from db.sql.replicas import HEADER as WRITE_POSITION
from graph import idempotency
from graph.context import Context
from graph.errors import RequestCode, masked
from graph.transport.encoding import encode_json
from graph.transport.view import GRAPHQL_RESPONSE_JSON, JSON, request_error_status

log = logging.getLogger("conduit.errors")
R = TypeVar("R")

#: The pause before the first retry of a conflicted mutation is at most twice this, then doubles.
RETRY_PAUSE_SECONDS = 0.005
VIEWER_GONE = "the token's user no longer exists"
NOT_SAVED = "The write was not saved: the database refused to commit it. Nothing changed; try again."
OUTCOME_UNKNOWN = (
    "The connection to the database was lost while the write was being committed: it may or "
    "may not have been saved. Retry with the same Idempotency-Key header to be answered either "
    "way (it never runs twice); without one, read before you retry."
)


class MutationTransaction(SchemaExtension):
    """Runs a mutation operation in one transaction (see the module's doc)."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if not isinstance(context, Context) or execution.result is not None or not _mutates(execution):
            yield
            return
        context.on_primary, context.conflicted = True, False  # primary: even reads before it writes
        try:
            await _prepare(execution, context)
        except Exception as error:
            context.conflicted = serialization_failure(error)
            await context.end_writes(commit=False)
            execution.result = ExecutionResult(data=None, errors=[masked(error)])
        yield
        context.on_primary = False  # a WebSocket's later queries: its write position says where
        result = execution.result
        if context.transaction is None or not isinstance(result, ExecutionResult):
            return
        if result.errors:
            context.conflicted = any(serialization_failure(e.original_error) for e in result.errors)
            await context.end_writes(commit=False)
            result.data = None
        elif context.claimed_key is None or not context.over_http:
            try:
                await context.end_writes(commit=True)
            except Exception as error:
                context.conflicted = serialization_failure(error)
                result.data, result.errors = None, [commit_failure(error)]
        # else: `settle` stores the response with the key, then commits.


async def retrying(execute: Callable[[], Awaitable[R]], context: object) -> R:
    """`execute()` (one operation), again while `run_again` says so."""
    attempt = 1
    while True:
        result = await execute()
        if not await run_again(context, attempt):
            return result
        attempt += 1


async def run_again(context: object, attempt: int) -> bool:
    """Whether the operation just run may run again (its `attempt`-th retry): its transaction
    was rolled back for a serialization failure or a deadlock (SQLSTATE 40001, 40P01:
    PostgreSQL under contention, CockroachDB and YugabyteDB routinely), at most
    DB_SERIALIZATION_RETRIES times. If so, after a short jittered pause, with the context
    ready for it. The caller has sent nothing yet: the result is the response to come, and
    the rolled-back attempt changed nothing. SQLite raises neither: never again."""
    if not isinstance(context, Context) or not context.conflicted:
        return False
    if attempt > context.services.settings.db_serialization_retries:
        log.warning("a mutation still conflicted after %d retries", attempt - 1)
        return False
    context.conflicted = False
    context.viewer_row, context.answer, context.issued_credentials = None, None, False
    await asyncio.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * 2**attempt))
    return True


def _mutates(execution: ExecutionContext) -> bool:
    try:
        return execution.operation_type == OperationType.MUTATION
    except RuntimeError:  # no such operation: graphql-core reports it
        return False


async def _prepare(execution: ExecutionContext, context: Context) -> None:
    """Before any field runs: the viewer exists, the idempotency key is claimed."""
    key = context.idempotency_key
    if key is not None and not idempotency.valid_key(key):
        idempotency.refuse(execution, context, 400, RequestCode.BAD_REQUEST, idempotency.KEY_RULE)
        return
    if context.viewer_id is None and key is None:
        return  # the transaction begins with the first field that writes
    session = await context.begin_writes()
    if context.viewer_id is not None:
        context.viewer_row = await db.users.keep_existing(session, context.viewer_id)
    if context.viewer_id is not None and context.viewer_row is None:
        await context.end_writes(commit=False)
        gone = GraphQLError(VIEWER_GONE, extensions={"code": RequestCode.UNAUTHENTICATED})
        execution.result = ExecutionResult(data=None, errors=[gone])
        return
    if key is not None:
        await idempotency.claim(execution, context, session, key)


async def settle(context: Context, response: Response) -> Response:
    """The response to send once it is built: a decided `answer`, or `response` once the
    operation's transaction stored it under its key and committed; a truthful error if not."""
    if context.answer is not None:
        return context.answer(response.media_type)
    if context.transaction is None or context.claimed_key is None:
        return response
    try:
        await idempotency.store(context, response)
    except Exception as error:
        await context.end_writes(commit=False)
        return request_failure(masked(error), response.media_type)
    try:
        await context.end_writes(commit=True)
    except Exception as error:
        return request_failure(commit_failure(error), response.media_type)
    position = None if context.response_headers is None else context.response_headers.get(WRITE_POSITION)
    if position is not None:  # learnt after the response was built
        response.headers[WRITE_POSITION] = position
    return response


def commit_failure(error: BaseException) -> GraphQLError:
    """What a failed COMMIT means: refused by the database (nothing happened), or lost on the
    way (unknown: it may have reached the database and been committed)."""
    error_id = uuid.uuid4().hex
    if _refused(error):
        log.warning("commit refused %s: %s", error_id, type(error).__name__)
        return GraphQLError(
            NOT_SAVED, extensions={"code": RequestCode.SERVICE_UNAVAILABLE, "errorId": error_id}
        )
    log.warning("commit outcome unknown %s: %s", error_id, type(error).__name__)
    return GraphQLError(
        OUTCOME_UNKNOWN, extensions={"code": RequestCode.OUTCOME_UNKNOWN, "errorId": error_id}
    )


def _refused(error: BaseException) -> bool:
    """The database answered the COMMIT with an error of its own (rather than a connection
    that failed, a timeout, or anything else that leaves the outcome open)."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str):
        return not sqlstate.startswith(("08", "57P"))
    return getattr(original, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED")


def request_failure(error: GraphQLError, media_type: str | None) -> Response:
    """`error` as the whole response, as the view renders a request that produced no data."""
    media_type = media_type or JSON
    body: dict[str, object] = {"data": None, "errors": [error.formatted]}
    status = 200
    if media_type == GRAPHQL_RESPONSE_JSON:
        status = request_error_status(body) or 200  # type: ignore[arg-type]
        del body["data"]
    return Response(encode_json(body), status_code=status, media_type=media_type)
