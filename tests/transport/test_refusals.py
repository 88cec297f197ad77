"""Every HTTP refusal is a GraphQL-shaped JSON error, with an `Allow` that tells the truth.

/graphql serves GET, POST and OPTIONS; any other method is 405 before any work (nothing is
written). Starlette's own refusals elsewhere (unknown paths, a wrong method on /health/*,
GraphiQL's files) are JSON GraphQL errors too, never FastAPI's `{"detail": …}`.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.support.servers import serving_in_loop

REGISTER = (
    'mutation { register(input: {username: "viaput", email: "viaput@example.com", '
    'password: "password123"}) { token } }'
)
REFUSED = {
    "errors": [
        {
            "message": "Use GET or POST on /graphql (OPTIONS for a CORS preflight).",
            "extensions": {"code": "METHOD_NOT_ALLOWED"},
        }
    ]
}
NO_USER = {"data": {"user": None}}
FIND_USER = {"query": '{ user(username: "viaput") { username } }'}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE", "PROPFIND", "QUERY"])
async def test_other_methods_on_graphql_are_405_json_and_change_nothing(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/graphql", json={"query": REGISTER})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, OPTIONS"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == REFUSED
    assert (await client.post("/graphql", json=FIND_USER)).json() == NO_USER


async def test_a_405_is_in_the_media_type_the_client_accepts(client: httpx.AsyncClient) -> None:
    accept = "application/graphql-response+json"
    response = await client.delete("/graphql", headers={"Accept": accept})
    assert response.status_code == 405
    assert response.headers["content-type"] == accept
    assert response.json() == REFUSED


async def test_head_on_graphql_is_405_with_no_body(app: FastAPI) -> None:
    """Over a real server, which must not choke on a HEAD answer's Content-Length."""
    async with serving_in_loop(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        response = await http.head("/graphql")
        after = await http.post("/graphql", json={"query": "{ __typename }"})  # the connection is sound
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, OPTIONS"
    assert response.content == b""
    assert after.json() == {"data": {"__typename": "Query"}}


async def test_options_without_a_preflight_says_which_methods_graphql_serves(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/graphql")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, POST, OPTIONS"
    assert response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "allow"),
    [
        ("POST", "/health/live", 405, "METHOD_NOT_ALLOWED", "GET"),
        ("DELETE", "/health/ready", 405, "METHOD_NOT_ALLOWED", "GET"),
        ("GET", "/graphql/extra", 404, "NOT_FOUND", None),
        ("GET", "/no-such-page", 404, "NOT_FOUND", None),
        ("GET", "/static/graphiql/missing.js", 404, "NOT_FOUND", None),
        ("POST", "/static/graphiql/graphiql.min.js", 405, "METHOD_NOT_ALLOWED", "GET, HEAD"),
    ],
)
async def test_refusals_off_graphql_are_graphql_errors_too(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str, allow: str | None
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert response.headers.get("allow") == allow
    assert response.headers["content-type"] == "application/json"
    message = "Not Found" if status == 404 else "Method Not Allowed"
    assert response.json() == {"errors": [{"message": message, "extensions": {"code": code}}]}


async def test_head_on_an_unknown_path_is_404_with_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/no-such-page")
    assert response.status_code == 404
    assert response.content == b""
