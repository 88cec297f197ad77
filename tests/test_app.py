"""The served app: /graphql over HTTP, GraphiQL, health, and settings that refuse to start."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from db.settings import DEVELOPMENT_SECRET_KEY, Settings, secret_key_problem
from graph.app import create_app
from tests.support.engines import engine_url, settings_for
from tests.support.proxy import Proxy


async def test_typename_answers_query(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_browser_get_shows_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_health_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}


async def _ready(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        return await http.get("/health/ready")


async def test_ready_is_503_while_sqlite_is_unreachable_and_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet"
    app = create_app(settings_for(f"sqlite+aiosqlite:///{folder / 'conduit.db'}"))
    async with app.router.lifespan_context(app):
        down = await _ready(app)
        assert down.status_code == 503
        assert down.json() == {"status": "unavailable", "reason": "the database is unreachable"}
        folder.mkdir()
        assert (await _ready(app)).status_code == 200


async def test_ready_is_503_while_postgres_is_unreachable_and_recovers(sqlite_url: str) -> None:
    url = make_url(engine_url("postgresql", sqlite_url))
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    app = create_app(settings_for(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)))
    async with app.router.lifespan_context(app):
        assert (await _ready(app)).status_code == 200
        await proxy.stop()
        down = await _ready(app)
        assert down.status_code == 503
        assert "reason" in down.json()
        await proxy.start()
        assert (await _ready(app)).status_code == 200
    await proxy.stop()


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEVELOPMENT_SECRET_KEY)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("Kq3vN8xR2mWz7pLc5tYh9dFj4sGb6nA", "at least 32 characters"),
        ("please-change-me-to-something-long-0123", "contains 'change-me'"),
        ("CHANGEME-Kq3vN8xR2mWz7pLc5tYh9dFj4sGb6", "contains 'changeme'"),
        ("my-super-Secret-key-Kq3vN8xR2mWz7pLc5tY", "contains 'secret'"),
        ("an-example-key-Kq3vN8xR2mWz7pLc5tYh9dFj", "contains 'example'"),
        ("placeholder-Kq3vN8xR2mWz7pLc5tYh9dFj4sG", "contains 'placeholder'"),
        ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "at least 8 distinct characters"),
        ("ab" * 20, "at least 8 distinct characters"),
        ("0123456" * 6, "at least 8 distinct characters"),
    ],
)
def test_production_refuses_placeholder_looking_or_short_secrets(key: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(reason)):
        Settings(environment="production", secret_key=key)


def test_random_keys_are_never_taken_for_placeholders() -> None:
    """Random keys of every usual kind pass: no placeholder word is short enough to turn up
    in one by chance (a three-letter one did, in 0.2% of `token_urlsafe(48)` keys)."""
    keys = [secrets.token_urlsafe(48) for _ in range(3000)] + [secrets.token_hex(32) for _ in range(3000)]
    assert [key for key in keys if secret_key_problem(key) is not None] == []


def test_placeholder_secrets_are_fine_outside_production() -> None:
    assert Settings(environment="development", secret_key="change-me").secret_key == "change-me"


def test_production_accepts_a_random_secret() -> None:
    settings = Settings(environment="production", secret_key=secrets.token_hex(32))
    assert not settings.graphiql_enabled
    assert not settings.introspection_enabled


def test_graphiql_can_be_switched_off(migrated_url: str) -> None:
    app = create_app(settings_for(migrated_url, graphiql=False))
    assert app is not None
