"""What a client sends, checked before anything uses it: JSON text, body headers, nesting.

Every refusal here is a client's mistake and gets a 4xx (or a WebSocket `error` / close),
never the 500 that a parser's own exception (UnicodeDecodeError, RecursionError, the
integer digit limit's ValueError) would become further in.

- JSON is UTF-8 (RFC 8259; a leading byte order mark is ignored, as it allows), and strictly
  JSON: `NaN`, `Infinity` and numbers too large for a float are refused, as JavaScript's
  `JSON.parse` and orjson (the query lane's parser) refuse them.
- A body declares no charset but UTF-8 and no Content-Encoding (415, as the GraphQL-over-HTTP
  spec suggests for an unsupported charset): nothing is decoded on a guess.
- `variables` and `extensions` nest at most `max_variables_depth` arrays and objects deep,
  measured iteratively before any coercion, over HTTP and in WebSocket operations.
- A WebSocket operation's document goes through the same resolution as over HTTP
  (graph/transport/documents.py): with TRUSTED_DOCUMENTS_ONLY an untrusted one is refused.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from graph.errors import RequestCode
from graph.transport.documents import DocumentRefused, names_a_document, resolve

UTF_8 = ("utf-8", "utf8")


class BadJSON(json.JSONDecodeError):
    """JSON text refused for a reason worth telling; a JSONDecodeError, so that every caller
    that handles malformed JSON (Strawberry's HTTP view, its WebSocket loop) handles it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.reason = reason


def _no_constant(name: str) -> object:
    raise BadJSON(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON(f"the number {text[:20]}… is too large")
    return value


def decode_json(data: str | bytes) -> object:
    """JSON text as Python values; `json.JSONDecodeError` (often `BadJSON`) for anything else."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError:
        raise
    except UnicodeDecodeError:
        raise BadJSON("the body is not UTF-8") from None
    except RecursionError:
        raise BadJSON("it nests too deeply") from None
    except ValueError:  # the one left: an integer past int()'s digit limit (4300)
        raise BadJSON("a number has too many digits") from None


def body_refusal(content_type: str, content_encoding: str | None) -> str | None:
    """Why a JSON body with these headers is refused (415), None when it is acceptable."""
    _, parameters = parse_content_type(content_type)
    charset = parameters.get("charset", "utf-8").strip().strip('"').lower()
    if charset not in UTF_8:
        return f"The body must be UTF-8 JSON, not {charset[:40]!r}."
    if content_encoding is not None and content_encoding.strip().lower() not in ("", "identity"):
        return "The body must not be compressed (no Content-Encoding)."
    return None


def deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests arrays and objects more than `limit` deep (itself counts one).

    Iterative, and it stops at the first path past the limit: a value nested thousands deep
    costs no recursion and no more than its size.
    """
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def nesting_refusal(variables: object, extensions: object, limit: int) -> str | None:
    """Why an operation's `variables` or `extensions` are refused, None when they fit."""
    for name, value in (("variables", variables), ("extensions", extensions)):
        if deeper_than(value, limit):
            return f"The operation's `{name}` nest deeper than {limit} levels, the limit."
    return None


def subscribe_refusal(payload: dict[str, Any], limit: int) -> str | None:
    """Why a WebSocket operation is refused by the limits; None when it may run. Its shape was
    checked as the message arrived (graph/transport/websocket.py `malformed` closes the socket)."""
    return nesting_refusal(payload.get("variables"), payload.get("extensions"), limit)


ONLY_SUBSCRIPTIONS = (
    "graphql-ws serves subscriptions only: send queries and mutations over HTTP or graphql-transport-ws."
)


def _refused(message: str) -> dict[str, Any]:
    return GraphQLError(message, extensions={"code": RequestCode.BAD_REQUEST}).formatted  # type: ignore[return-value]


async def document_refusal(view: object, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The error refusing a WebSocket operation's document, None when it may run; the payload's
    `query` becomes the document the operation runs."""
    persisted_documents = getattr(view, "persisted_documents", None)
    if persisted_documents is None:
        return None
    documents = persisted_documents()
    extensions = payload.get("extensions")
    if not (documents.trusted_only or names_a_document(extensions, None)):
        return None
    try:
        resolved = await resolve(documents, payload.get("query"), extensions)
    except DocumentRefused as refused:
        return refused.formatted()
    payload["query"] = resolved.query
    return None


def operation_type(query: str, operation_name: str | None) -> OperationType | None:
    """The type of the operation a document names, None when it does not parse or name one:
    the schema then reports, and codes, what is wrong (the real token limit applies there)."""
    try:
        document = parse(query, max_tokens=100_000)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    return None if operation is None else operation.operation


def _not_a_subscription(payload: dict[str, Any]) -> bool:
    """Whether the operation a legacy `start` names parses and is no subscription."""
    kind = operation_type(payload["query"], payload.get("operationName"))
    return kind is not None and kind != OperationType.SUBSCRIPTION


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, refusing a `subscribe` past the limits with an `error` for its id."""

    async def handle_subscribe(self, message: Any) -> None:
        limit = getattr(self.view, "max_variables_depth", 32)
        reason = subscribe_refusal(message["payload"], limit)
        if reason is not None and self.connection_acknowledged:
            error = {"id": message["id"], "type": "error", "payload": [_refused(reason)]}
            await self.send_message(cast(Any, error))
            return
        acknowledged = self.connection_acknowledged
        refusal = await document_refusal(self.view, message["payload"]) if acknowledged else None
        if refusal is not None:
            await self.send_message(cast(Any, {"id": message["id"], "type": "error", "payload": [refusal]}))
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """graphql-ws (legacy), refusing a `start` past the limits, or one that is no subscription
    (the protocol serves only those; Strawberry fails inside on the rest), with an `error` for
    its id."""

    async def handle_start(self, message: Any) -> None:
        limit = getattr(self.view, "max_variables_depth", 32)
        reason = subscribe_refusal(message["payload"], limit)
        refusal = None
        if reason is None and self.connection_acknowledged:
            refusal = await document_refusal(self.view, message["payload"])
        if reason is None and refusal is None and _not_a_subscription(message["payload"]):
            reason = ONLY_SUBSCRIPTIONS
        if reason is not None and self.connection_acknowledged:
            refusal = _refused(reason)
        if refusal is not None:
            error = {"type": "error", "id": message.get("id"), "payload": refusal}
            await self.send_message(cast(Any, error))
            return
        await super().handle_start(message)
