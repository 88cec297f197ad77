"""Observability as an operator sees it: JSON log lines, request ids, /metrics.

Every test reads what the service writes (stderr lines, the /metrics text), never its insides.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

import db.users
from graph.telemetry.metrics import Metrics, PoolCollector
from tests.support.counting import StatementCounter
from tests.support.factories import create_article
from tests.support.gql import REGISTER, gql, register
from tests.support.served import served
from tests.support.servers import ROOT, free_port

ARTICLES = """
query Articles($n: Int) {
  articles(first: $n) {
    nodes { title tagList author { username following } favoritesCount comments(first: 2) { totalCount } }
  }
}
"""
SECRET = "secret-detail-0xC0FFEE"


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line the service wrote to stderr, each parsed as the JSON object it must be."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def access_line(logged: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    [line] = [e for e in logged if e["logger"] == "conduit.access" and e["request_id"] == request_id]
    return line


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], request_id: str, **headers: str
) -> httpx.Response:
    return await client.post("/graphql", json=body, headers={"X-Request-ID": request_id, **headers})


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# The access log.


async def test_each_request_logs_one_json_line_with_its_sql_statement_count(
    client: httpx.AsyncClient,
    statements: StatementCounter,
    capsys: pytest.CaptureFixture[str],
    engine_name: str,
) -> None:
    token = await register(client, "writer")
    for number in range(3):
        await create_article(client, token, title=f"Article {number}", tagList=["a", "b"])
    before = statements.count
    response = await post(
        client, {"query": ARTICLES, "variables": {"n": 10}}, "list-1", Authorization=f"Bearer {token}"
    )
    ran = statements.count - before
    assert response.status_code == 200 and len(response.json()["data"]["articles"]["nodes"]) == 3
    line = access_line(lines(capsys), "list-1")
    # SQLite: the articles with what they show; their comments pages. PostgreSQL: the answer as JSON.
    assert ran == (1 if engine_name == "postgresql" else 2)
    assert {key: line[key] for key in line if key not in ("timestamp", "duration_ms")} == {
        "event": "request",
        "level": "info",
        "logger": "conduit.access",
        "request_id": "list-1",
        "method": "POST",
        "path": "/graphql",
        "status": 200,
        "operation_name": "Articles",
        "operation_type": "query",
        "sql_statements": ran,
    }
    assert 0 < line["duration_ms"] < 10_000
    assert line["timestamp"].endswith("Z")


async def test_a_mutation_line_counts_its_statements_and_user_error_codes(
    client: httpx.AsyncClient, statements: StatementCounter, capsys: pytest.CaptureFixture[str]
) -> None:
    await register(client, "taken")
    variables = {"input": {"username": "taken", "email": "other@example.com", "password": "password123"}}
    before = statements.count
    result = await post(client, {"query": REGISTER, "variables": variables}, "register-2")
    ran = statements.count - before
    assert result.json()["data"]["register"]["errors"][0]["code"] == "TAKEN"
    line = access_line(lines(capsys), "register-2")
    assert ran > 0
    assert (line["operation_name"], line["operation_type"]) == ("Register", "mutation")
    assert (line["sql_statements"], line["error_codes"]) == (ran, ["TAKEN"])


async def test_a_request_without_sql_counts_none(
    client: httpx.AsyncClient, statements: StatementCounter, capsys: pytest.CaptureFixture[str]
) -> None:
    await post(client, {"query": "{ __typename }"}, "typename-3")
    before = statements.count
    await client.get("/health/ready", headers={"X-Request-ID": "ready-3"})
    ran = statements.count - before
    logged = lines(capsys)
    typename = access_line(logged, "typename-3")
    assert (typename["sql_statements"], typename["operation_name"], typename["status"]) == (0, None, 200)
    ready = access_line(logged, "ready-3")
    assert ran >= 1
    assert (ready["path"], ready["sql_statements"]) == ("/health/ready", ran)
    assert "operation_name" not in ready


async def test_a_masked_error_is_logged_as_json_with_the_request_id_and_traceback(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*_: Any, **__: Any) -> Any:
        raise KeyError(SECRET)

    monkeypatch.setattr(db.users, "create", explode)
    variables = {"input": {"username": "someone", "email": "someone@example.com", "password": "password123"}}
    response = await post(client, {"query": REGISTER, "variables": variables}, "explode-4")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    logged = lines(capsys)
    [masked] = [e for e in logged if e["logger"] == "conduit.errors"]
    assert masked["request_id"] == "explode-4"
    assert masked["level"] == "error"
    assert masked["event"] == f"unexpected error {error['extensions']['errorId']}"
    assert "Traceback" in masked["exception"] and SECRET in masked["exception"]
    assert access_line(logged, "explode-4")["error_codes"] == ["INTERNAL_SERVER_ERROR"]


async def test_standard_library_and_uvicorn_loggers_write_json(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("conduit").warning("readiness check failed: %s", "OSError")
    logging.getLogger("uvicorn.access").info("a line our access log replaces")
    assert [(e["logger"], e["level"], e["event"]) for e in lines(capsys)] == [
        ("uvicorn.error", "info", "Started server process [42]"),
        ("conduit", "warning", "readiness check failed: OSError"),
    ]


async def test_no_access_line_at_log_level_warning(
    migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with served(migrated_url, log_level="WARNING") as client:
        response = await post(client, {"query": "query Quiet { __typename }"}, "quiet-5")
        samples = await scrape(client)
    assert response.status_code == 200
    assert lines(capsys) == []
    assert value(samples, "conduit_graphql_requests_total", operation="Quiet", operation_type="query") == 1


# Request ids.


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("3f2b9c1e-8a4d-4f5e-9b1a-2c3d4e5f6a7b", True),
        ("frontend.web:42_a", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("two words", False),
        ('{"injected": true}', False),
        ("", False),
    ],
)
async def test_a_safe_request_id_is_echoed_and_any_other_replaced(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], sent: str, kept: bool
) -> None:
    response = await post(client, {"query": "{ __typename }"}, sent)
    echoed = response.headers["x-request-id"]
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent and len(echoed) == 32 and int(echoed, 16) >= 0
    assert access_line(lines(capsys), echoed)["status"] == 200


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/health/live"),
        await client.post("/graphql", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"}),
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.post("/graphql", json={"query": "{ __typename }"}),
    ]
    ids = [response.headers["x-request-id"] for response in responses]
    assert responses[1].status_code == 413
    assert len(set(ids)) == 4


# Metrics.


async def test_metrics_count_requests_and_latency_per_operation(client: httpx.AsyncClient) -> None:
    token = await register(client, "reader")
    for _ in range(2):
        await gql(client, ARTICLES, {"n": 5}, token)
    await gql(client, "{ tags { name } }")
    samples = await scrape(client)
    articles = {"operation": "Articles", "operation_type": "query"}
    assert value(samples, "conduit_graphql_requests_total", **articles) == 2
    assert value(samples, "conduit_graphql_request_duration_seconds_count", **articles) == 2
    assert value(samples, "conduit_graphql_request_duration_seconds_bucket", le="+Inf", **articles) == 2
    assert 0 < value(samples, "conduit_graphql_request_duration_seconds_sum", **articles) < 20
    anonymous = {"operation": "(anonymous)", "operation_type": "query"}
    assert value(samples, "conduit_graphql_requests_total", **anonymous) == 1
    register_ = {"operation": "Register", "operation_type": "mutation"}
    assert value(samples, "conduit_graphql_requests_total", **register_) == 1
    counted = [count for (name, _), count in samples.items() if name == "conduit_graphql_requests_total"]
    assert sum(counted) == 4  # GraphQL requests only: not /metrics, not /health


async def test_errors_are_counted_by_code(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await register(client, "taken")
    taken = {"input": {"username": "TAKEN", "email": "another@example.com", "password": "password123"}}
    await post(client, {"query": REGISTER, "variables": taken}, "taken-6")
    await post(client, {"query": "query Bad { nope }"}, "invalid-6")
    await post(client, {"query": "{ articles("}, "unparsed-6")
    await post(client, {"query": "{ articles(first: 1000) { totalCount } }"}, "input-6")
    await client.post("/graphql", content=b"{}", headers={"Content-Type": "text/plain"})
    samples = await scrape(client)
    for code in [
        "TAKEN",
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
        "BAD_USER_INPUT",
        "UNSUPPORTED_MEDIA_TYPE",
    ]:
        assert value(samples, "conduit_graphql_errors_total", code=code) == 1, code
    logged = lines(capsys)
    assert access_line(logged, "invalid-6")["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert access_line(logged, "invalid-6")["operation_name"] == "Bad"
    assert access_line(logged, "unparsed-6")["operation_type"] is None


async def test_operation_names_are_bounded_labels(migrated_url: str) -> None:
    long = "L" * 65
    async with served(migrated_url, metrics_max_operation_names=2) as client:
        for name in ["First", "Second", "Third", "First", long]:
            await gql(client, f"query {name} {{ __typename }}")
        samples = await scrape(client)
    operations = {
        dict(labels)["operation"]: count
        for (name, labels), count in samples.items()
        if name == "conduit_graphql_requests_total"
    }
    assert operations == {"First": 2, "Second": 1, "(other)": 2}


def test_a_name_that_is_no_graphql_name_is_never_a_label() -> None:
    metrics = Metrics(max_operation_names=10)
    for name in ["ok_Name1", "not a name", 'x"} 1\n', "1starts_with_a_digit", "é"]:
        metrics.observe(name, "query", (), 0.01)
    metrics.observe("Fine", "query", ["A CODE", "BAD_REQUEST"], 0.01)
    exposed = metrics.exposition(None)[0].decode()
    requests = {
        sample.labels["operation"]: sample.value
        for family in text_string_to_metric_families(exposed)
        for sample in family.samples
        if sample.name == "conduit_graphql_requests_total"
    }
    assert requests == {"ok_Name1": 1, "Fine": 1, "(other)": 4}
    assert 'conduit_graphql_errors_total{code="(other)"} 1.0' in exposed
    assert 'conduit_graphql_errors_total{code="BAD_REQUEST"} 1.0' in exposed


async def test_pool_gauges_follow_the_pool(app: FastAPI, client: httpx.AsyncClient, engine_name: str) -> None:
    await client.get("/health/ready")
    idle = await scrape(client)
    async with app.state.services.database.engine.connect():
        busy = await scrape(client)
    size = app.state.services.settings.db_pool_size if engine_name == "postgresql" else 5
    assert value(idle, "conduit_db_pool_size") == value(busy, "conduit_db_pool_size") == size
    assert (value(idle, "conduit_db_pool_checked_out"), value(busy, "conduit_db_pool_checked_out")) == (0, 1)
    assert value(idle, "conduit_db_pool_checked_in") >= 1
    assert ("conduit_db_pool_overflow", frozenset()) in idle


async def test_a_pool_that_counts_nothing_reports_nothing() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    collector = PoolCollector()
    collector.engine = engine
    assert collector.collect() == []
    assert [family.name for family in collector.describe()] == [
        "conduit_db_pool_size",
        "conduit_db_pool_checked_out",
        "conduit_db_pool_checked_in",
        "conduit_db_pool_overflow",
    ]
    await engine.dispose()


async def test_metrics_speak_openmetrics_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.text.endswith("# EOF\n")


async def test_metrics_can_be_switched_off(migrated_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async with served(migrated_url, metrics_enabled=False) as client:
        assert (await client.get("/metrics")).status_code == 404
        response = await post(client, {"query": "query Still { __typename }"}, "off-7")
    assert response.headers["x-request-id"] == "off-7"
    assert access_line(lines(capsys), "off-7")["operation_name"] == "Still"


def test_the_served_process_writes_only_json_lines(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": sqlite_url, "ENVIRONMENT": "test", "LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)]
    with (tmp_path / "stderr").open("w+") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stderr=stderr, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, f"the server exited with {process.returncode}"
                with contextlib.suppress(httpx.HTTPError):
                    live = httpx.get(
                        f"http://127.0.0.1:{port}/health/live", headers={"X-Request-ID": "served-8"}
                    )
                    break
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                time.sleep(0.1)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        stderr.seek(0)
        logged = [json.loads(line) for line in stderr.read().splitlines()]
    assert live.headers["x-request-id"] == "served-8"
    assert access_line(logged, "served-8")["path"] == "/health/live"
    events = [(line["logger"], line["event"]) for line in logged]
    assert ("uvicorn.error", "Application startup complete.") in events
    assert ("uvicorn.error", f"Started server process [{process.pid}]") in events
    assert not [line for line in logged if line["logger"] == "uvicorn.access"]
