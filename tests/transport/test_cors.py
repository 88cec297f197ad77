"""CORS on /graphql and GraphiQL's files (graph/transport/cors.py), over HTTP, on both engines.

What a browser checks is the headers, so the tests compare them whole (but the request id,
which differs each time). `Access-Control-Allow-Credentials` must never appear: tokens are
sent in the Authorization header, never as cookies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from db.settings import Settings
from graph.app import create_app
from tests.execution.test_lane import count_general_path
from tests.support.engines import empty_tables
from tests.support.gql import register

APP_ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
TYPENAME = {"query": "{ __typename }"}
PREFLIGHT = {
    "Origin": APP_ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}
POLICY = {
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": (
        "Accept, Authorization, Conduit-Write-Position, Content-Type, Idempotency-Key, X-Request-ID"
    ),
    "access-control-max-age": "7200",
}
EXPOSED = {"access-control-expose-headers": "Conduit-Write-Position, Retry-After, X-Request-ID"}
CREATE = """
mutation C($input: CreateArticleInput!) { createArticle(input: $input) { article { title } errors { code } } }
"""


def headers_of(response: httpx.Response, *, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """The CORS headers, Vary and Allow of a response (and any named in `keep`)."""
    names = ("access-control-", "vary", "allow", *keep)
    return {name: value for name, value in response.headers.items() if name.startswith(names)}


@pytest.fixture
async def listed(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with CORS_ALLOWED_ORIGINS set to one origin, APP_ORIGIN."""
    app = create_app(settings.model_copy(update={"cors_allowed_origins": [APP_ORIGIN]}))
    async with app.router.lifespan_context(app):
        await empty_tables(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            yield http


async def test_a_preflight_from_any_origin_is_204_with_the_whole_policy(client: httpx.AsyncClient) -> None:
    response = await client.options("/graphql", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.content == b""
    assert headers_of(response) == {"access-control-allow-origin": "*", **POLICY}


async def test_a_preflight_from_a_listed_origin_echoes_it_and_varies_on_origin(
    listed: httpx.AsyncClient,
) -> None:
    response = await listed.options("/graphql", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.content == b""
    assert headers_of(response) == {"access-control-allow-origin": APP_ORIGIN, "vary": "Origin", **POLICY}


async def test_a_preflight_from_an_unlisted_origin_is_refused_with_no_allow_origin(
    listed: httpx.AsyncClient,
) -> None:
    response = await listed.options("/graphql", headers={**PREFLIGHT, "Origin": OTHER_ORIGIN})
    assert response.status_code == 403
    assert headers_of(response) == {"vary": "Origin"}
    assert response.json() == {
        "errors": [
            {
                "message": "This origin may not call the API from a browser (see CORS_ALLOWED_ORIGINS).",
                "extensions": {"code": "FORBIDDEN"},
            }
        ]
    }


async def test_a_preflight_for_a_method_or_header_not_allowed_states_the_policy_for_the_browser_to_refuse(
    listed: httpx.AsyncClient,
) -> None:
    asking = {
        **PREFLIGHT,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "x-secret",
    }
    response = await listed.options("/graphql", headers=asking)
    assert response.status_code == 204
    assert headers_of(response) == {"access-control-allow-origin": APP_ORIGIN, "vary": "Origin", **POLICY}


async def test_a_query_the_lane_answers_carries_allow_origin(app: FastAPI, client: httpx.AsyncClient) -> None:
    general: list[str] = []
    count_general_path(app, general)
    response = await client.post("/graphql", json=TYPENAME, headers={"Origin": APP_ORIGIN})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert headers_of(response) == {"access-control-allow-origin": "*", **EXPOSED}
    assert general == [], "the lane did not answer"


async def test_a_listed_origin_is_echoed_on_the_lane_and_the_general_path(listed: httpx.AsyncClient) -> None:
    token = await register(listed, "corsauthor")
    article = {"title": "Across origins", "description": "d", "body": "b"}
    headers = {"Origin": APP_ORIGIN, "Authorization": f"Bearer {token}"}
    query = await listed.post("/graphql", json={"query": "{ viewer { email } }"}, headers=headers)
    mutation = await listed.post(
        "/graphql", json={"query": CREATE, "variables": {"input": article}}, headers=headers
    )
    assert query.json() == {"data": {"viewer": {"email": "corsauthor@example.com"}}}
    assert mutation.json()["data"] == {
        "createArticle": {"article": {"title": "Across origins"}, "errors": []}
    }
    for response in (query, mutation):
        assert headers_of(response) == {
            "access-control-allow-origin": APP_ORIGIN,
            **EXPOSED,
            "vary": "Origin",
        }


async def test_an_unlisted_origin_gets_no_allow_origin_so_its_page_cannot_read_the_answer(
    listed: httpx.AsyncClient,
) -> None:
    response = await listed.post("/graphql", json=TYPENAME, headers={"Origin": OTHER_ORIGIN})
    assert response.status_code == 200
    assert headers_of(response) == {"vary": "Origin"}


async def test_without_an_origin_a_listed_policy_still_varies_on_origin(listed: httpx.AsyncClient) -> None:
    response = await listed.post("/graphql", json=TYPENAME)
    assert response.json() == {"data": {"__typename": "Query"}}
    assert headers_of(response) == {"vary": "Origin"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "BAD_REQUEST"),
        (b"query=x", {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"x" * (1024 * 1024 + 1), {"Content-Type": "application/json"}, 413, "PAYLOAD_TOO_LARGE"),
        (
            b'{"query": "{ __typename }"}',
            {"Content-Type": "application/json", "Authorization": "Bearer forged"},
            200,
            "UNAUTHENTICATED",
        ),
    ],
    ids=["malformed", "media-type", "too-large", "bad-token"],
)
async def test_error_responses_carry_allow_origin_too(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = await client.post("/graphql", content=body, headers={**headers, "Origin": APP_ORIGIN})
    assert response.status_code == status
    assert [error["extensions"]["code"] for error in response.json()["errors"]] == [code]
    assert headers_of(response) == {"access-control-allow-origin": "*", **EXPOSED}


async def test_a_refused_method_carries_allow_origin_too(listed: httpx.AsyncClient) -> None:
    response = await listed.put("/graphql", json=TYPENAME, headers={"Origin": APP_ORIGIN})
    assert response.status_code == 405
    assert headers_of(response) == {
        "allow": "GET, POST, OPTIONS",
        "access-control-allow-origin": APP_ORIGIN,
        **EXPOSED,
        "vary": "Origin",
    }


async def test_graphiql_files_are_readable_from_other_origins(listed: httpx.AsyncClient) -> None:
    preflight = await listed.options(
        "/static/graphiql/graphiql.min.js",
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    asset = await listed.get("/static/graphiql/graphiql.min.js", headers={"Origin": APP_ORIGIN})
    assert preflight.status_code == 204
    assert headers_of(preflight) == {"access-control-allow-origin": APP_ORIGIN, "vary": "Origin", **POLICY}
    assert asset.status_code == 200
    # The files vary by encoding too (graph/transport/assets.py).
    vary = "Accept-Encoding, Origin"
    assert headers_of(asset) == {"access-control-allow-origin": APP_ORIGIN, **EXPOSED, "vary": vary}


async def test_other_paths_have_no_cors_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Origin": APP_ORIGIN})
    assert response.json() == {"status": "ok"}
    assert headers_of(response) == {}


@pytest.mark.parametrize(
    ("environment", "origins"),
    [
        (None, ["*"]),
        ("*", ["*"]),
        (" https://App.example/ , http://localhost:5173", ["https://app.example", "http://localhost:5173"]),
        ("", []),
    ],
)
def test_cors_allowed_origins_is_read_comma_separated_as_browsers_write_origins(
    monkeypatch: pytest.MonkeyPatch, environment: str | None, origins: list[str]
) -> None:
    if environment is None:
        monkeypatch.delenv("CORS_ALLOWED_ORIGINS", raising=False)
    else:
        monkeypatch.setenv("CORS_ALLOWED_ORIGINS", environment)
    assert Settings(_env_file=None).cors_allowed_origins == origins  # type: ignore[call-arg]


async def test_with_no_origin_allowed_every_preflight_is_refused(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_allowed_origins": []}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            response = await http.options("/graphql", headers=PREFLIGHT)
    assert response.status_code == 403
    assert headers_of(response) == {"vary": "Origin"}
