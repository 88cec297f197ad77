"""The FastAPI application: /graphql (HTTP and WebSocket), /graphql/stream (Server-Sent Events),
health checks, and the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.routing import Route, WebSocketRoute
from starlette.types import Scope
from starlette_compress import CompressMiddleware
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from db.events import comment_events_for
from db.login_attempts import login_throttle
from db.passwords import Passwords
from db.settings import Settings
from db.sql.engine import Database
from db.sql.replicas import HEADER as WRITE_POSITION
from graph.auth import InvalidToken, request_context, viewer_id_from_header
from graph.context import Context, Services
from graph.errors import RequestCode, refusal_code
from graph.execution.lane import QueryLane
from graph.idempotency import HEADER as IDEMPOTENCY_KEY
from graph.mutations import settle as settle_mutation
from graph.persisted import PersistedDocuments
from graph.schema import create_schema
from graph.telemetry.logs import configure_logging
from graph.telemetry.metrics import Metrics, metrics_endpoint
from graph.telemetry.requests import RequestObserver, count_statements
from graph.telemetry.tracing import install_tracer_provider
from graph.transport.assets import graphiql_assets
from graph.transport.compression import COMPRESSION
from graph.transport.cors import ALLOWED_HEADERS, CORS
from graph.transport.deadline import Deadline
from graph.transport.encoding import encode_json
from graph.transport.graphiql import GRAPHIQL_STATIC, STATIC_URL, graphiql_html
from graph.transport.sse import ALLOWED_METHODS as STREAM_METHODS
from graph.transport.sse import STREAM_PATH, TOKEN_HEADER, EventStreams
from graph.transport.view import JSON, GraphQLOverHTTP
from graph.transport.websocket import TextFrameWebSocket

log = logging.getLogger("conduit")
_CONTEXTS = "conduit.contexts"
NO_ACK_PAYLOAD: UnsetType = UNSET


class GraphQLApp(GraphQLOverHTTP[Context, None]):
    """Strawberry's ASGI app (as the GraphQL-over-HTTP spec wants it), our context, orjson."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        schema = create_schema(settings)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
            allowed_origins=settings.ws_allowed_origins,
        )
        self._app = app
        self.conduit_schema = schema
        self.max_request_bytes = settings.max_request_bytes
        self.max_variables_depth = settings.max_variables_depth
        self.persisted_query_cache_control = settings.persisted_query_cache_control

    websocket_adapter_class = TextFrameWebSocket  # type: ignore[assignment]

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL from the app's own static files (no CDN: it works offline)."""
        return graphiql_html()

    def persisted_documents(self) -> PersistedDocuments:
        services: Services = self._app.state.services
        return services.documents

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A token in the connection_init payload signs the socket in; a bad one is refused, as
        is a bad one in the upgrade request's header that the payload does not replace."""
        params = context.connection_params
        authorization = None
        if isinstance(params, dict):
            authorization = params.get("Authorization", params.get("authorization"))
        if authorization is None:
            if context.auth_error is not None:  # a bad token in the upgrade request's header
                raise ConnectionRejectionError(
                    {"message": context.auth_error, "code": RequestCode.UNAUTHENTICATED}
                )
            return NO_ACK_PAYLOAD
        if not isinstance(authorization, str):
            raise ConnectionRejectionError({"message": "Authorization must be a string"})
        try:
            viewer_id = viewer_id_from_header(context.services.settings, authorization)
        except InvalidToken as error:
            raise ConnectionRejectionError(
                {"message": str(error), "code": RequestCode.UNAUTHENTICATED}
            ) from None
        context.viewer_id, context.auth_error = viewer_id, None
        context.forget_loaded()
        return NO_ACK_PAYLOAD

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        over_http = isinstance(request, Request)
        context = connection_context(self._app.state.services, request, over_http=over_http)
        if isinstance(response, Response):
            context.response_headers = response.headers
        if over_http:
            context.idempotency_key = request.headers.get(IDEMPOTENCY_KEY)
            request.scope.setdefault(_CONTEXTS, []).append(context)
        return context

    async def settle(self, scope: Scope, response: Response) -> Response:
        for context in scope.get(_CONTEXTS, ()):
            response = await settle_mutation(context, response)
        return response

    async def finish(self, scope: Scope) -> None:
        for context in scope.pop(_CONTEXTS, ()):
            await context.close()

    def encode_json(self, data: object) -> bytes:
        return encode_json(data)


def connection_context(services: Services, connection: HTTPConnection, *, over_http: bool) -> Context:
    """The context of a request or a socket, signed in by its Authorization header. Not
    `over_http`, it lives as long as the connection (a socket, an event stream)."""
    context = request_context(services, connection.headers.get("authorization"), over_http=over_http)
    context.client_address = connection.client.host if connection.client else None
    context.read_after(connection.headers.get(WRITE_POSITION))
    return context


def _tune_garbage_collector() -> None:
    """Serving allocates many short-lived objects: the start-up heap (modules, schema, pools)
    is frozen so collections stop rescanning it, and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def _refusal(request: Request, exc: Exception) -> Response:
    """Starlette's refusals (an unknown path, a wrong method on /health/*, a missing static
    file) as JSON GraphQL errors, like every refusal /graphql makes, instead of FastAPI's
    `{"detail": …}`; their headers (`Allow`) kept, and no body for HEAD."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = refusal_code(status)
    body = {"errors": [{"message": exc.detail, "extensions": {"code": code}}]}
    response = Response(encode_json(body), status_code=status, media_type=JSON, headers=exc.headers)
    if request.scope.get("method") == "HEAD":
        response.body = b""
    return response


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for these settings; the engine is made when it starts and disposed when it stops."""
    settings = settings or Settings()
    configure_logging(settings)
    install_tracer_provider(settings)
    metrics = (
        Metrics(settings.metrics_max_operation_names, settings.prometheus_multiproc_dir)
        if settings.metrics_enabled
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(settings)
        count_statements(database.engine)
        if database.replicas is not None:  # the access log counts the reads on replicas too
            count_statements(database.replicas.engine)
        if metrics is not None:
            metrics.pool.engine = database.engine
        app.state.services = Services(
            settings=settings,
            database=database,
            passwords=Passwords(settings),
            events=comment_events_for(settings),
            login_throttle=login_throttle(settings, database),
            documents=PersistedDocuments.from_settings(database, settings),
        )
        await app.state.services.events.start()
        if settings.environment != "test":
            _tune_garbage_collector()
        try:
            yield
        finally:
            streams.close()
            await app.state.services.events.close()
            await database.dispose()
            if metrics is not None and metrics.files is not None:
                metrics.files.close()

    traced = settings.otel_enabled  # FastAPI's own OpenTelemetry (HTTP spans) only then, as
    # graph/telemetry/tracing.py says: otherwise it looks for providers on every request.
    app = FastAPI(
        title="Conduit GraphQL",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry={"tracing": traced, "metrics": traced, "logs": traced},
    )
    app.state.metrics = metrics
    app.add_exception_handler(StarletteHTTPException, _refusal)
    if metrics is not None:
        app.router.routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    graphql = GraphQLApp(app, settings)
    streams = EventStreams(
        graphql,
        settings,
        context=lambda request: connection_context(app.state.services, request, over_http=False),
    )
    if settings.dataloader_batching:
        app.add_middleware(QueryLane, schema=graphql.conduit_schema, settings=settings)
    app.add_middleware(Deadline, seconds=settings.request_timeout_seconds)  # around lane and view
    # Around the lane and the deadline, so what they answer is marked for browsers too.
    app.add_middleware(CORS, allowed_origins=settings.cors_allowed_origins, prefixes=(f"{STATIC_URL}/",))
    # Event streams follow the WebSocket's origin rule (WS_ALLOWED_ORIGINS), not the API's.
    app.add_middleware(
        CORS,
        allowed_origins=streams.allowed_origins,
        paths=(STREAM_PATH,),
        methods=STREAM_METHODS,
        headers=(*ALLOWED_HEADERS, TOKEN_HEADER),
    )
    if settings.compression_minimum_size:  # around the lane: what it answers is compressed too
        app.add_middleware(CompressMiddleware, minimum_size=settings.compression_minimum_size, **COMPRESSION)
    # Added last, so outermost: it observes every request, whichever layer answers it.
    app.add_middleware(RequestObserver, metrics=metrics)
    app.router.routes.extend(
        [
            Route("/graphql", graphql),  # every method: the view refuses what it does not serve
            WebSocketRoute("/graphql", graphql),
            Route(STREAM_PATH, streams),  # graphql-sse, every method: it refuses what it does not serve
            Route(f"{STATIC_URL}/{{name}}", graphiql_assets(GRAPHIQL_STATIC)),  # an ASGI app: every method
        ]
    )

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @app.get("/health/ready")
    async def ready(request: Request) -> Response:
        """The database answers through the pool; 503 with the reason while it does not."""
        database: Database = request.app.state.services.database
        try:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:
            log.warning("readiness check failed: %s", type(error).__name__)
            return JSONResponse(
                {"status": "unavailable", "reason": "the database is unreachable"}, status_code=503
            )
        return JSONResponse({"status": "ok"})

    return app
