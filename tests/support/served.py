"""An app with settings of a test's own, served in process for the length of a `with`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from db.settings import Settings
from graph.app import create_app


@asynccontextmanager
async def served(url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on the database at `url` with these settings overridden."""
    test = {"environment": "test", "argon2_time_cost": 1, "argon2_memory_cost_kib": 64}
    app = create_app(Settings(database_url=url, **{**test, **overrides}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            yield http


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    """One operation as JSON, whatever status comes back."""
    return await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
