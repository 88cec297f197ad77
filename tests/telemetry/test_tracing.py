"""OpenTelemetry tracing (OTEL_ENABLED): spans per operation, never a secret in them.

OpenTelemetry's tracer provider is process-wide; each test installs its own through
`monkeypatch`, which puts the previous one back, so no other test is traced.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from tests.support.gql import REGISTER
from tests.support.served import post, served

PASSWORD = "secret-password-0xC0FFEE"


def registration() -> dict[str, Any]:
    """Variables of a `Register` for a new account (the tests share their databases)."""
    name = f"traced{uuid.uuid4().hex[:12]}"
    return {"input": {"username": name, "email": f"{name}@example.com", "password": PASSWORD}}


def inlined() -> str:
    """A `Register` with its password written into the document itself."""
    name = f"inline{uuid.uuid4().hex[:12]}"
    account = f'username: "{name}", email: "{name}@example.com", password: "{PASSWORD}"'
    return f"mutation Inlined {{ register(input: {{{account}}}) {{ token errors {{ code }} }} }}"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Spans of this test, kept in memory."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    return spans


def graphql_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith("GraphQL")]


async def test_an_operation_is_traced_with_its_phases(
    migrated_url: str, exporter: InMemorySpanExporter
) -> None:
    async with served(migrated_url, otel_enabled=True) as client:
        response = await post(client, REGISTER, registration())
    assert response.json()["data"]["register"]["errors"] == []
    spans = graphql_spans(exporter)
    names = {span.name for span in spans}
    assert {"GraphQL Query: Register", "GraphQL Parsing", "GraphQL Validation"} < names
    assert "GraphQL Resolving: register" in names
    [operation] = [span for span in spans if span.name == "GraphQL Query: Register"]
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "Register"
    assert operation.attributes["graphql.operation.type"] == "mutation"
    [request] = [span for span in exporter.get_finished_spans() if span.name == "POST /graphql"]
    assert operation.parent is not None and operation.parent.span_id == request.context.span_id
    children = [span for span in spans if span is not operation]
    assert children and all(
        span.parent and span.parent.span_id == operation.context.span_id for span in children
    )


async def test_a_query_is_traced_too(migrated_url: str, exporter: InMemorySpanExporter) -> None:
    async with served(migrated_url, otel_enabled=True) as client:
        for _ in range(2):  # the second time, a query lane would know the document
            response = await post(client, "query Listed { articles(first: 2) { totalCount } }")
            assert isinstance(response.json()["data"]["articles"]["totalCount"], int)
    spans = [span for span in graphql_spans(exporter) if span.name == "GraphQL Query: Listed"]
    assert len(spans) == 2
    assert all((span.attributes or {})["graphql.operation.type"] == "query" for span in spans)


async def test_no_span_holds_the_document_or_an_argument(
    migrated_url: str, exporter: InMemorySpanExporter
) -> None:
    async with served(migrated_url, otel_enabled=True) as client:
        await post(client, REGISTER, registration())
        answer = (await post(client, inlined())).json()
    assert answer["data"]["register"]["errors"] == []
    assert len(graphql_spans(exporter)) >= 6
    for span in exporter.get_finished_spans():
        attributes = dict(span.attributes or {})
        assert PASSWORD not in repr(attributes), span.name
        assert "query" not in attributes


async def test_nothing_is_traced_unless_enabled(migrated_url: str, exporter: InMemorySpanExporter) -> None:
    async with served(migrated_url) as client:
        await post(client, REGISTER, registration())
    assert graphql_spans(exporter) == []


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that keeps what it is sent."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        """Quiet."""


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_spans_are_exported_over_otlp_to_the_configured_endpoint(
    migrated_url: str, collector: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    host, port = collector.server_address[:2]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{host!s}:{port}")
    async with served(migrated_url, otel_enabled=True, otel_service_name="conduit-under-test") as client:
        await post(client, REGISTER, registration())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.shutdown()  # flushes the batch, then stops its thread
    received: list[tuple[str, bytes]] = collector.received  # type: ignore[attr-defined]
    assert received and {path for path, _ in received} == {"/v1/traces"}
    sent = b"".join(body for _, body in received)
    assert b"GraphQL Query: Register" in sent
    assert b"conduit-under-test" in sent
    assert PASSWORD.encode() not in sent
