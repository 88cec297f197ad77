"""Idempotent retries: a mutation sent with an `Idempotency-Key` header runs once.

The first request with a key runs; its response (status, content type, body bytes) is stored
in the mutation's own transaction (graph/mutations.py), so the writes and the stored response
commit together or not at all. A retry with the same key, from the same viewer (keys are
scoped per viewer; anonymous requests share the anonymous scope) and the same request (a
SHA-256 of its query, variables and operationName) within `IDEMPOTENCY_TTL_SECONDS` gets the
stored response byte for byte, with `Idempotent-Replayed: true`, and nothing runs again. A
retry that comes while the first is still running waits for it (see db/idempotency.py).

Decisions:
- A key on a query is ignored: a query changes nothing, and the query lane never reads it.
- A response that carries a sign-in token (`register`, `login`) is not stored: a bearer
  credential must not sit in the database for a day. The key is still claimed with the
  writes, so the request never runs twice; a retry is told, with 409
  IDEMPOTENT_RESPONSE_NOT_STORED, that the first was answered, and signs in with `login`.
- A response with errors was rolled back, key and all: a retry runs afresh.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response
from strawberry.types import ExecutionContext

import db.idempotency
from graph.context import Context
from graph.errors import RequestCode
from graph.transport.encoding import encode_json

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
KEY_RULE = "The Idempotency-Key header must be 1 to 255 visible ASCII characters."
REUSED = "This Idempotency-Key was used for a different request; send a new key for a new request."
IN_USE = "A request with this Idempotency-Key is still running; retry after it finishes."
NOT_STORED = (
    "The request with this Idempotency-Key was already answered (status {status}); its response "
    "carried a sign-in token, which is never stored. Sign in with `login` for a token."
)
IN_USE_RETRY_AFTER_SECONDS = 1


def valid_key(key: str) -> bool:
    """1 to 255 visible ASCII characters (no spaces or control characters)."""
    return 0 < len(key) <= 255 and all("!" <= character <= "~" for character in key)


def request_hash(execution: ExecutionContext) -> str:
    """What makes two requests the same: query, variables and operationName as sent."""
    operation_name = getattr(execution, "_provided_operation_name", execution.operation_name)
    normalised = [execution.query, execution.variables or {}, operation_name]
    return hashlib.sha256(orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS)).hexdigest()


def refuse(
    execution: ExecutionContext,
    context: Context,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Nothing runs; the HTTP response is `status` with this error (a GraphQL error too, for a
    caller that never builds an HTTP response)."""
    execution.result = ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])
    body = encode_json({"errors": [{"message": message, "extensions": {"code": code}}]})

    def answer(media_type: str | None) -> Response:
        return Response(body, status_code=status, media_type=media_type, headers=headers)

    context.answer = answer


async def claim(execution: ExecutionContext, context: Context, session: AsyncSession, key: str) -> None:
    """Claim `key` in the operation's transaction, or answer from what an earlier request stored."""
    scope = "anonymous" if context.viewer_id is None else f"user:{context.viewer_id}"
    digest = request_hash(execution)
    ttl = context.services.settings.idempotency_ttl_seconds
    try:
        found = await db.idempotency.claim(
            session, scope=scope, key=key, request_hash=digest, ttl_seconds=ttl
        )
    except db.idempotency.KeyInUse:
        found = None
    if isinstance(found, int):
        context.claimed_key = found
        return
    await context.end_writes(commit=False)
    if found is None or found.status is None:
        retry = {"Retry-After": str(IN_USE_RETRY_AFTER_SECONDS)}
        refuse(execution, context, 409, RequestCode.IDEMPOTENCY_KEY_IN_USE, IN_USE, retry)
    elif found.request_hash != digest:
        refuse(execution, context, 422, RequestCode.IDEMPOTENCY_KEY_REUSED, REUSED)
    elif found.body is None:
        message = NOT_STORED.format(status=found.status)
        refuse(execution, context, 409, RequestCode.IDEMPOTENT_RESPONSE_NOT_STORED, message)
    else:
        execution.result = ExecutionResult(data=None)  # nothing runs: the stored response is sent
        context.answer = lambda _: _replay(found)


def _replay(found: db.idempotency.Stored) -> Response:
    """The stored response as it was sent (its media type too, whatever this retry accepts)."""
    headers: dict[str, Any] = {REPLAYED: "true"}
    return Response(
        found.body, status_code=found.status or 200, media_type=found.content_type, headers=headers
    )


async def store(context: Context, response: Response) -> None:
    """The response, as it will be sent, under the claimed key (its body left out when it
    carries a sign-in token)."""
    assert context.transaction is not None
    assert context.claimed_key is not None
    body = None if context.issued_credentials else bytes(response.body)
    await db.idempotency.store(
        context.transaction.session,
        context.claimed_key,
        status=response.status_code,
        content_type=response.headers.get("content-type"),
        body=body,
    )
