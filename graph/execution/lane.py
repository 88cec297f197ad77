"""The query lane: the everyday request served without the general machinery.

Nearly every request a frontend sends is a POSTed JSON query whose document the server has
seen before and knows to be valid. For those, the general path — FastAPI's routing, Strawberry's
HTTP view, a parse and validation cache lookup each through a chain of schema extensions, an
execution context — costs more than the query itself when its rows are few. This ASGI
middleware answers them directly: a per-document plan (parsed once, validated once with the
same rules and limits), the token, the cost, then, on PostgreSQL, the one statement that builds
the answer as JSON (graph/execution/compiled.py), or the level-wise executor of
graph/execution/levelwise.py, the same one the general path runs, for what that statement cannot
answer.

What the lane does not serve goes down the general path untouched, byte for byte, before
anything ran: other methods, paths and media types, bodies that are not a plain
`{query, variables, operationName, extensions, documentId}` object, documents that do not parse or validate,
mutations and subscriptions, refused tokens, operations over the cost limit. An operation the
level-wise executor hands back (errors, nulls, introspection) is run by the schema, with all
its extensions, on the same context, its loaders' rows reused — and the level-wise executor
not tried again: a request is parsed once (one parse cache for both doors) and executed at
most once by each executor. So every error a client can see is produced, coded and masked in
one place, and the lane can only ever answer what the general path would have answered.
A persisted document named by its hash is resolved by the same function as on the general
path (graph/transport/documents.py); a request it refuses goes there to be refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

import orjson
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from graphql.validation import specified_rules
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http import process_result
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.schema import validate_document

from db.settings import Settings
from graph.auth import request_context
from graph.context import Services
from graph.errors import masked
from graph.execution.compiled import Compiled, JsonReads
from graph.execution.extensions import parse_document
from graph.execution.levelwise import Fallback
from graph.execution.limits import cost_report, estimate_cost, limit_rules, sizes_vary
from graph.schema import ConduitSchema
from graph.telemetry.requests import record_operation
from graph.transport.documents import DocumentRefused, names_a_document, resolve
from graph.transport.encoding import encode_json
from graph.transport.view import GRAPHQL_RESPONSE_JSON, JSON, negotiate, request_error_status
from graph.transport.wire import body_refusal, deeper_than

log = logging.getLogger("conduit.lane")
PLANS_CACHED = 512
_REQUEST_KEYS = frozenset({"query", "variables", "operationName", "extensions", "documentId"})


@dataclass(frozen=True, slots=True)
class Plan:
    """A valid query document, ready to run. `name` is its operation's, as reported (None when
    anonymous); `cost` is known up front when no variable sets a page size."""

    document: DocumentNode
    operation: OperationDefinitionNode
    name: str | None
    cost: int | None
    compiled: dict[Any, Compiled | None] = field(default_factory=dict, compare=False)
    """Its statements for PostgreSQL's JSON (graph/execution/compiled.py), by variable shape."""


class QueryLane:
    """ASGI middleware in front of the app: serves plain queries, passes everything else on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        schema: ConduitSchema,
        settings: Settings,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.conduit_schema = schema
        self.schema: GraphQLSchema = schema._schema
        self.levelwise = schema.levelwise
        self.settings = settings
        self.path = path
        self.tracer = _tracer() if settings.otel_enabled else None
        self.json_reads = None if settings.is_sqlite else JsonReads(self.schema)
        rules = (*specified_rules, *limit_rules(settings))
        self.plan: Callable[[str, str | None], Plan | None] = lru_cache(maxsize=PLANS_CACHED)(
            lambda query, operation_name: self._plan(query, operation_name, rules)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:  # the first of a repeated header, as Starlette reads it
            headers.setdefault(name, value)
        body, receive = await self._read(headers, receive)
        if body is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await self._answer(scope, headers, body)
        except Exception:  # before execution (planning, the token): the general path meets it again
            log.warning("the query lane failed before executing; the general path answers", exc_info=True)
            response = None
        if response is None:
            await self.app(scope, receive, send)
            return
        media_type = negotiate(headers.get(b"accept", b"").decode("latin-1") or None)
        status = 200
        if media_type == GRAPHQL_RESPONSE_JSON and (refused := request_error_status(cast(Any, response))):
            status, response = refused, {k: v for k, v in response.items() if k != "data"}
        await _send(send, status, response, media_type)

    async def _read(self, headers: dict[bytes, bytes], receive: Receive) -> tuple[bytes | None, Receive]:
        """The whole body when the lane may serve it (else None), and a `receive` for the
        general path that replays whatever was read."""
        declared = headers.get(b"content-length", b"")
        content_type_header = headers.get(b"content-type", b"").decode("latin-1")
        # What nearly every client sends, known without a parse (an email.Message per request).
        content_type = JSON if content_type_header == JSON else parse_content_type(content_type_header)[0]
        if content_type != JSON or not declared.isdigit() or int(declared) > self.settings.max_request_bytes:
            return None, receive
        encoding = headers.get(b"content-encoding")
        if (encoding is not None or ";" in content_type_header) and body_refusal(
            content_type_header, None if encoding is None else encoding.decode("latin-1")
        ):
            return None, receive  # the general path refuses it (a charset, a compression)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more and size <= self.settings.max_request_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return None, _replaying(chunks, receive, last=message)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
        if more:
            return None, _replaying(chunks, receive, more=True)
        body = b"".join(chunks)
        return body, _replaying([body], receive)

    async def _answer(self, scope: Scope, headers: dict[bytes, bytes], body: bytes) -> dict[str, Any] | None:
        """The response, or None for the general path. A database outage is answered here, as
        the general path answers it: it would only wait for the database as long again."""
        request = _plain_request(body)
        if request is None:
            return None
        query, variables, operation_name, extensions, document_id = request
        limit = self.settings.max_variables_depth
        if (variables and deeper_than(variables, limit)) or (extensions and deeper_than(extensions, limit)):
            return None  # the general path refuses it
        services: Services = scope["app"].state.services
        documents = services.documents
        if documents.trusted_only or names_a_document(extensions, document_id):
            try:
                query = (await resolve(documents, query, extensions, document_id)).query
            except DocumentRefused:
                return None  # the general path refuses it, in the same words
        if query is None:
            return None
        plan = self.plan(query, operation_name)
        if plan is None:
            return None
        cost = plan.cost
        if cost is None:
            cost = estimate_cost(self.schema, plan.document, operation_name, variables)
        if cost is None or cost > self.settings.max_query_cost:
            return None
        authorization = headers.get(b"authorization")
        context = request_context(
            services, None if authorization is None else authorization.decode("latin-1")
        )
        if context.auth_error is not None:
            return None
        position = headers.get(b"conduit-write-position")
        context.read_after(None if position is None else position.decode("latin-1"))
        extensions = _extensions(cost, self.settings.max_query_cost)
        try:
            try:
                with self._span(plan.name):
                    built = None
                    if self.json_reads is not None:
                        built = await self.json_reads.answer(
                            plan.document, plan.operation, plan.compiled, variables, context
                        )
                    if built is None:
                        data = await self.levelwise.execute(plan.document, variables, operation_name, context)
                    else:
                        data = built
            except Fallback as fallback:
                context.levelwise_tried = fallback.reason
                self.levelwise.fallbacks.report(query, fallback.reason, plan.name)
                result = await self.conduit_schema.execute(
                    query, variables, context, operation_name=operation_name
                )
                return cast("dict[str, Any]", process_result(result))
            except Exception as unexpected:  # an outage, or a bug that must not hide behind a retry
                error = masked(unexpected)
                record_operation(plan.name, [str((error.extensions or {}).get("code"))], "query")
                return {"data": None, "errors": [error.formatted], **extensions}
        finally:
            await context.close()  # also when cancelled (a deadline): the connection goes back
        record_operation(plan.name, (), "query")
        return {"data": data, **extensions}

    def _span(self, name: str | None) -> AbstractContextManager[Any]:
        """The operation's span when tracing, named as the general path names it."""
        if self.tracer is None:
            return nullcontext()
        attributes = {"graphql.operation.type": "query"}
        if name:
            attributes["graphql.operation.name"] = name
        span: AbstractContextManager[Any] = self.tracer.start_as_current_span(
            f"GraphQL Query: {name}" if name else "GraphQL Query", attributes=attributes
        )
        return span

    def _plan(self, query: str, operation_name: str | None, rules: tuple[Any, ...]) -> Plan | None:
        try:
            document = parse_document(query, max_tokens=self.settings.max_query_tokens)
        except GraphQLError:
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.QUERY:
            return None
        if validate_document(self.schema, document, rules):
            return None
        fixed = None if sizes_vary(document) else estimate_cost(self.schema, document, operation_name, None)
        return Plan(document, operation, operation.name.value if operation.name else None, fixed)


async def _send(send: Send, status: int, response: dict[str, Any], media_type: str) -> None:
    answer = encode_json(response)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(answer)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})


def _tracer() -> Any:
    return trace.get_tracer("conduit.lane")


def _extensions(cost: int, limit: int) -> dict[str, Any]:
    report = cost_report(cost, limit)
    return {"extensions": report} if report else {}


_Request = tuple[str | None, dict[str, Any] | None, str | None, dict[str, Any] | None, object]


def _plain_request(body: bytes) -> _Request | None:
    """`(query, variables, operationName, extensions, documentId)` of a body that is exactly
    such an object, else None. The query may be absent only where a document is named."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(request, dict) or not request.keys() <= _REQUEST_KEYS:
        return None
    query = request.get("query")
    variables = request.get("variables")
    operation_name = request.get("operationName")
    extensions = request.get("extensions")
    document_id = request.get("documentId")
    if (
        not isinstance(query, str | None)
        or not isinstance(variables, dict | None)
        or not isinstance(operation_name, str | None)
        or not isinstance(extensions, dict | None)
    ):
        return None
    if query is None and not names_a_document(extensions, document_id):
        return None
    return query, variables, operation_name, extensions, document_id


def _replaying(
    chunks: list[bytes], receive: Receive, *, more: bool = False, last: Message | None = None
) -> Receive:
    """A `receive` that first hands out what the lane read, then defers to the original."""
    pending: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": more or index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    if last is not None:
        pending.append(last)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
