"""GraphQL over HTTP: media types, status codes, request size, and errors as JSON.

Strawberry's ASGI view serves GraphQL; this subclass adds what the GraphQL-over-HTTP spec
asks of a server and what production needs:

- `application/graphql-response+json` when the client accepts it (it wins ties with
  `application/json`). In that media type a request that never reached execution — it
  did not parse, validate, or its variables did not coerce — is 400 with no `data` entry
  (401 when the token was refused). With `application/json` those stay 200, as clients
  written before the spec expect.
- Bodies and query strings over `max_request_bytes` are refused with 413 before they are
  read whole.
- Every refusal at the HTTP level is a JSON GraphQL response with `errors[].extensions.code`,
  and anything unexpected is a masked 500 whose `errorId` the log repeats with the traceback.
- A request may name a persisted document instead of sending its text: it is resolved
  (graph/transport/documents.py) before Strawberry reads the query. A GET answered from a
  hash alone, without errors and without an Authorization header, gets PERSISTED_QUERY_CACHE_CONTROL.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Generic

from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.http.typevars import Context, RootValue
from strawberry.types import ExecutionResult

from graph.errors import REFUSAL_CODES, RequestCode, masked
from graph.persisted import PersistedDocuments
from graph.transport.documents import DocumentRefused, resolve
from graph.transport.wire import (
    BadJSON,
    LegacyWSHandler,
    TransportWSHandler,
    body_refusal,
    decode_json,
    nesting_refusal,
)

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

#: The methods /graphql serves: OPTIONS answers preflights (graph/transport/cors.py) and says this.
ALLOWED_METHODS = "GET, POST, OPTIONS"


#: Set in a request's scope while its answer may be cached (see the module's doc).
_CACHEABLE = "conduit.cacheable"


class PayloadTooLarge(Exception):
    """The request carries more bytes than the server reads."""


class RequestAdapter(StarletteRequestAdapter):
    """Strawberry's view of a Starlette request, keeping the request (and its scope) at hand."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.request = request


class GraphQLOverHTTP(GraphQL[Context, RootValue], Generic[Context, RootValue]):
    """Strawberry's ASGI view, following the GraphQL-over-HTTP spec (see the module's doc)."""

    max_request_bytes: int = 1024 * 1024
    max_variables_depth: int = 32
    persisted_query_cache_control: str = ""
    request_adapter_class = RequestAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=self._bounded(receive))
        media_type = negotiate(request.headers.get("accept"))
        if scope["method"] not in ("GET", "POST"):
            await self.other_method(scope["method"], media_type)(scope, receive, send)
            return
        try:
            self._check_declared_size(request)
            response = await self.settle(scope, await self.run(request))
        except (PayloadTooLarge, HTTPException, DocumentRefused) as error:
            response = self.refusal(error, media_type)
        except Exception as exception:
            unexpected = masked(exception)  # logged there, with the errorId it carries
            extensions = unexpected.extensions or {}
            status = 503 if extensions.get("code") == RequestCode.SERVICE_UNAVAILABLE else 500
            response = self.error_response(
                status, unexpected.message, media_type, error_id=str(extensions.get("errorId"))
            )
        finally:
            await self.finish(scope)
        if scope.pop(_CACHEABLE, False) and response.status_code == 200:
            response.headers["cache-control"] = self.persisted_query_cache_control
            response.headers.append("vary", "Authorization")
        await response(scope, receive, send)

    def other_method(self, method: str, media_type: str) -> Response:
        """OPTIONS says which methods there are (a preflight never gets here); any other
        method is refused, 405 as JSON, before a context is made. HEAD gets the headers
        GET would not: a HEAD response has no body, and a GET may run an operation."""
        if method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ALLOWED_METHODS})
        response = self.error_response(
            405, "Use GET or POST on /graphql (OPTIONS for a CORS preflight).", media_type
        )
        if method == "HEAD":
            response.body = b""
        return response

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Not for a GET naming a persisted document: that is an operation, whatever it accepts."""
        params = request.query_params
        if "documentId" in params or "extensions" in params:
            return False
        return super().should_render_graphql_ide(request)

    def persisted_documents(self) -> PersistedDocuments | None:
        """Where persisted documents are looked up; None serves none (only texts run)."""
        return None

    async def settle(self, scope: Scope, response: Response) -> Response:
        """Called with the response built, before `finish`: the response to send instead."""
        return response

    async def finish(self, scope: Scope) -> None:
        """Called once the request's result is known, before it is sent: release what it held."""

    async def read_operation(self, scope: Scope, receive: Receive) -> GraphQLRequestData:
        """The one operation an HTTP request carries, held to every check `run` makes (size,
        media type, JSON, types, nesting, a persisted document's name); `PayloadTooLarge`,
        `HTTPException` or `DocumentRefused` (see `refusal`) when refused. For transports that
        run it their own way (graph/transport/sse.py)."""
        request = Request(scope, receive=self._bounded(receive))
        self._check_declared_size(request)
        data = await self.parse_http_body(self.request_adapter_class(request))
        if isinstance(data, list):
            raise HTTPException(400, "Batching is not enabled")
        if not isinstance(data.query, str):
            raise HTTPException(400, "No GraphQL query found in the request")
        return data

    def refusal(self, error: PayloadTooLarge | HTTPException | DocumentRefused, media_type: str) -> Response:
        """The response to a request refused before any operation ran (a document refused
        included: not persisted, not trusted)."""
        if isinstance(error, DocumentRefused):
            return self.error_response(
                error.status, error.message, media_type, code=error.code, headers=error.headers
            )
        if isinstance(error, PayloadTooLarge):
            return self.error_response(
                413, f"The request is larger than {self.max_request_bytes} bytes.", media_type
            )
        return self.error_response(error.status_code, error.reason, media_type)

    def _bounded(self, receive: Receive) -> Receive:
        """`receive`, raising `PayloadTooLarge` once the body grows past the limit."""
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_request_bytes:
                    raise PayloadTooLarge
            return message

        return bounded

    def _check_declared_size(self, request: Request) -> None:
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_request_bytes:
            raise PayloadTooLarge
        if len(request.scope.get("query_string", b"")) > self.max_request_bytes:
            raise PayloadTooLarge

    def error_response(
        self,
        status: int,
        message: str,
        media_type: str,
        *,
        error_id: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        extensions: dict[str, str] = {"code": code or REFUSAL_CODES.get(status, RequestCode.BAD_REQUEST)}
        if error_id is not None:
            extensions["errorId"] = error_id
        body = {"errors": [{"message": message, "extensions": extensions}]}
        if status == 405:
            headers = {"Allow": ALLOWED_METHODS}
        return Response(self.encode_json(body), status_code=status, media_type=media_type, headers=headers)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        raw: Any = request.query_params
        if request.method == "POST":
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type != JSON:
                raise HTTPException(415, f"Send the operation as {JSON}.")
            raw = await self._check_body(request)
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item.operation_name, str | None):
                raise HTTPException(
                    400, "The GraphQL operation's `operationName` must be a string or null, if provided."
                )
            too_deep = nesting_refusal(item.variables, item.extensions, self.max_variables_depth)
            if too_deep is not None:
                raise HTTPException(400, too_deep)
        documents = self.persisted_documents()
        if documents is None or isinstance(data, list):  # a batch is refused further on
            return data
        resolved = await resolve(documents, data.query, data.extensions, raw.get("documentId"))
        cacheable = resolved.by_id and request.method == "GET" and self.persisted_query_cache_control
        if cacheable and "authorization" not in request.headers and isinstance(request, RequestAdapter):
            request.request.scope[_CACHEABLE] = True
        return replace(data, query=resolved.query)

    async def _check_body(self, request: AsyncHTTPRequestAdapter) -> dict[str, Any] | list[Any]:
        """Refuse a POST body Strawberry would fail on: its headers (see `graph.transport.wire`), and
        JSON that is no object (Strawberry calls `.get` on whatever it decoded). Starlette keeps
        the body, so Strawberry reads the same bytes again, and decodes them again: a small
        cost on the general path, which the query lane keeps off the everyday queries."""
        refusal = body_refusal(request.content_type or "", request.headers.get("content-encoding"))
        if refusal is not None:
            raise HTTPException(415, refusal)
        data = self.parse_json(await request.get_body())
        if not isinstance(data, dict | list):  # a list is a batch, which Strawberry refuses
            raise HTTPException(400, "The body must be a JSON object: {query, variables, operationName}.")
        return data

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return decode_json(data)
        except BadJSON as error:
            raise HTTPException(400, f"Unable to parse request body as JSON: {error.reason}.") from None
        except ValueError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None

    def decode_json(self, data: str | bytes) -> object:
        return decode_json(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            request.scope.pop(_CACHEABLE, None)  # an answer with errors is never kept
        return await super().process_result(request, result)

    async def get_sub_response(self, request: Request | Any) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate(request.headers.get("accept"))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media_type = sub_response.media_type or JSON
        status = sub_response.status_code or 200
        if media_type == GRAPHQL_RESPONSE_JSON and not isinstance(response_data, list):
            request_error = request_error_status(response_data)
            if request_error is not None:
                status = request_error
                response_data = {key: value for key, value in response_data.items() if key != "data"}  # type: ignore[assignment]
        response = Response(self.encode_json(response_data), status_code=status, media_type=media_type)
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        return response


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header: the spec's own when preferred or tied."""
    best, best_quality = JSON, -1.0
    for part in (accept or "").split(","):
        media_range, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # "inf", "nan", 1e999: no quality at all
                    quality = 0.0
        media_range = media_range.lower()
        if media_range == GRAPHQL_RESPONSE_JSON and quality > 0 and quality >= best_quality:
            best, best_quality = GRAPHQL_RESPONSE_JSON, quality
        elif media_range in (JSON, "application/*", "*/*") and quality > best_quality:
            best, best_quality = JSON, quality
    return best


def request_error_status(response: GraphQLHTTPResponse) -> int | None:
    """The status of a response that never reached execution, None when it executed.

    Such a response has no data and only errors outside any field (parse, validation,
    variable coercion, a limit, a refused token).
    """
    errors = response.get("errors") or []
    if response.get("data") is not None or not errors:
        return None
    if any(isinstance(error, dict) and "path" in error for error in errors):
        return None
    codes = {error.get("extensions", {}).get("code") for error in errors if isinstance(error, dict)}
    if RequestCode.INTERNAL_SERVER_ERROR in codes:
        return 500
    if RequestCode.SERVICE_UNAVAILABLE in codes or RequestCode.OUTCOME_UNKNOWN in codes:
        return 503
    if RequestCode.UNAUTHENTICATED in codes:
        return 401
    return 400
