"""GraphQL over HTTP: media types, status codes, JSON errors, and the graphql-http audit suite.

These are protocol tests: what they send never reaches a table, so they run on SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.migrate import upgrade
from db.settings import Settings
from graph.auth import issue_token
from graph.transport.protocol import PROTOCOL
from graph.transport.view import GRAPHQL_RESPONSE_JSON, JSON, negotiate
from tests.support.served import post, served

ROOT = Path(__file__).resolve().parents[2]
AUDIT = Path(__file__).resolve().parents[1] / "http"
AUDITS = 61


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("text/html", JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, */*", JSON),
        (f"{GRAPHQL_RESPONSE_JSON.upper()};q=0.8, text/html", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=nonsense, application/json", JSON),
    ],
)
def test_negotiate_prefers_the_graphql_response_media_type(accept: str | None, media_type: str) -> None:
    assert negotiate(accept) == media_type


# Requests that never execute: 400 without data in the spec's media type, 200 in JSON.

REQUEST_ERRORS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("parse", "{ articles(", None, "GRAPHQL_PARSE_FAILED"),
    ("validation", "{ nope }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("coercion", "query($n: Int) { tags(first: $n) { name } }", {"n": "many"}, "BAD_USER_INPUT"),
    ("missing-variable", "query($n: Int!) { tags(first: $n) { name } }", {}, "BAD_USER_INPUT"),
    ("limit", "{ tags(first: 20000) { name } }", None, "QUERY_TOO_COMPLEX"),
]


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [case[1:] for case in REQUEST_ERRORS],
    ids=[case[0] for case in REQUEST_ERRORS],
)
async def test_request_errors_are_400_without_data_in_graphql_response_json(
    sqlite_url: str, query: str, variables: dict[str, Any] | None, code: str
) -> None:
    async with served(sqlite_url) as client:
        spec = await post(client, query, variables, Accept=GRAPHQL_RESPONSE_JSON)
        legacy = await post(client, query, variables, Accept="application/json")
    assert spec.status_code == 400
    assert spec.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert "data" not in spec.json()
    assert [error["extensions"]["code"] for error in spec.json()["errors"]] == [code]
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == JSON
    assert legacy.json()["data"] is None
    assert legacy.json()["errors"] == spec.json()["errors"]


async def test_a_refused_token_is_401_in_graphql_response_json(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        headers = {"Accept": GRAPHQL_RESPONSE_JSON, "Authorization": "Bearer not-a-token"}
        spec = await post(client, "{ __typename }", **headers)
        legacy = await post(client, "{ __typename }", Authorization="Bearer not-a-token")
    assert spec.status_code == 401
    assert "data" not in spec.json()
    assert spec.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_field_errors_keep_200_and_data_in_graphql_response_json(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        response = await post(client, "{ tags(first: 1000) { name } }", Accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["tags"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_signed_in_request_is_served_in_graphql_response_json(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        token = issue_token(Settings(database_url=sqlite_url, environment="test"), 1)
        response = await post(
            client, "{ __typename }", Accept=GRAPHQL_RESPONSE_JSON, Authorization=f"Bearer {token}"
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert response.json()["data"] == {"__typename": "Query"}


# Refusals at the HTTP level are JSON GraphQL responses too.


@pytest.mark.parametrize(
    ("content", "headers", "status", "code", "message"),
    [
        (b'{ "not a JSON', {}, 400, "BAD_REQUEST", "Unable to parse request body as JSON"),
        (b"", {}, 400, "BAD_REQUEST", "Unable to parse request body as JSON"),
        (b'{"notquery": "{ __typename }"}', {}, 400, "BAD_REQUEST", "No GraphQL query found in the request"),
        (
            b'{"query": "{ __typename }", "operationName": 7}',
            {},
            400,
            "BAD_REQUEST",
            "The GraphQL operation's `operationName` must be a string or null, if provided.",
        ),
        (
            b'{"query": "{ __typename }"}',
            {"Content-Type": "text/plain"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send the operation as application/json.",
        ),
    ],
)
async def test_bad_requests_are_json_errors(
    sqlite_url: str, content: bytes, headers: dict[str, str], status: int, code: str, message: str
) -> None:
    async with served(sqlite_url) as client:
        response = await client.post(
            "/graphql", content=content, headers={"Content-Type": "application/json", **headers}
        )
    assert response.status_code == status
    assert response.headers["content-type"] == JSON
    assert response.json() == {"errors": [{"message": message, "extensions": {"code": code}}]}


async def test_mutations_over_get_are_refused(sqlite_url: str) -> None:
    async with served(sqlite_url) as client:
        response = await client.get(
            "/graphql",
            params={"query": 'mutation { deleteArticle(slug: "x") { errors { message } } }'},
            headers={"Accept": GRAPHQL_RESPONSE_JSON},
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# The graphql-http audit suite, against the server as it runs: uvicorn in a subprocess.


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _node_modules() -> None:
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed to install the graphql-http audit suite"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AUDIT, check=True, timeout=300)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """The app served by uvicorn on a free port, on a fresh SQLite database; its /graphql URL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'conduit.db'}"
    upgrade(url)
    port = _free_port()
    environment = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test"}
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "graph.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--http", PROTOCOL),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_live(server, f"http://127.0.0.1:{port}/health/live")
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def _wait_until_live(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read().decode() if server.stdout else ""
            pytest.fail(f"the server exited with {server.returncode}:\n{output}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("the server did not answer within 30 seconds")


@pytest.mark.node
def test_the_graphql_http_audit_passes_whole(live_server: str) -> None:
    _node_modules()
    node = shutil.which("node")
    assert node is not None, "node is needed to run the graphql-http audit suite"
    run = subprocess.run(
        [node, "audit.mjs", live_server], cwd=AUDIT, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    not_ok = [result for result in results if result["status"] != "ok"]
    report = "\n".join(
        f"{result['status']} {result['id']} {result['name']}: {result['reason']}" for result in not_ok
    )
    assert not_ok == [], f"{len(not_ok)} of {len(results)} audits did not pass:\n{report}"
    assert len(results) == AUDITS
