"""The FastAPI application: /graphql (HTTP and WebSocket), health checks, and the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL

from db.engine import Database
from db.events import CommentEvents
from db.passwords import Passwords
from db.settings import Settings
from graph.auth import InvalidToken, viewer_id_from_header
from graph.context import Context, Services
from graph.schema import create_schema

log = logging.getLogger("conduit")


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app, with our context and orjson encoding."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        super().__init__(
            create_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
        )
        self._app = app

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services: Services = self._app.state.services
        authorization = request.headers.get("authorization")
        try:
            viewer_id = viewer_id_from_header(services.settings, authorization)
        except InvalidToken as error:
            return Context(services, auth_error=str(error))
        return Context(services, viewer_id=viewer_id)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for these settings; the engine is made when it starts and disposed when it stops."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(settings)
        app.state.services = Services(
            settings=settings,
            database=database,
            passwords=Passwords(settings),
            events=CommentEvents(),
        )
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(
        title="Conduit GraphQL",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    graphql = GraphQLApp(app, settings)
    app.router.routes.extend(
        [Route("/graphql", graphql, methods=["GET", "POST"]), WebSocketRoute("/graphql", graphql)]
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
