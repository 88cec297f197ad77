"""Optional tracing with OpenTelemetry (OTEL_ENABLED=true and the `otel` extra installed).

The schema then gets Strawberry's `OpenTelemetryExtension`: a span per operation (named after
it) with its parsing and validation spans, and a span per resolver that graphql-core runs.
FastAPI traces HTTP requests natively once a tracer provider exists, so the operation's span
nests in its request's. If nothing installed a provider before the app starts (as
`opentelemetry-instrument` does), `install_tracer_provider` installs one that exports over
OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT`, read by the exporter as the OTel spec says.

Traces are often kept long and shared widely, so two things never go into a span: the
document's text (a client may inline a password in a `login` literal) and resolver arguments.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension

from db.settings import Settings
from graph.telemetry.requests import operation_type_of

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def _no_arguments(arguments: dict[str, Any], info: Any) -> dict[str, Any]:
    return {}


class OperationTracing(OpenTelemetryExtension):
    """Strawberry's spans, without the document's text and without resolver arguments."""

    def __init__(self) -> None:
        super().__init__(arg_filter=_no_arguments)

    def on_operation(self) -> Generator[None, None, None]:
        execution = self.execution_context
        text, execution.query = execution.query, None
        try:
            steps = super().on_operation()
            next(steps)  # starts the operation's span, which finds no text to record
        finally:
            execution.query = text
        yield
        span = self._span_holder[LifecycleStep.OPERATION]
        if execution.operation_name:
            span.set_attribute("graphql.operation.name", execution.operation_name)
        operation_type = operation_type_of(execution)
        if operation_type:
            span.set_attribute("graphql.operation.type", operation_type)
        next(steps, None)  # ends it


def tracing_extensions(settings: Settings) -> list[type[SchemaExtension]]:
    """The schema extensions that trace operations: none unless OTEL_ENABLED."""
    return [OperationTracing] if settings.otel_enabled else []


def install_tracer_provider(settings: Settings) -> None:
    """With OTEL_ENABLED, export over OTLP unless a tracer provider is installed already."""
    if settings.otel_enabled and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(otlp_tracer_provider(settings))


def otlp_tracer_provider(settings: Settings) -> TracerProvider:
    """A provider batching spans to `OTEL_EXPORTER_OTLP_ENDPOINT` as `OTEL_SERVICE_NAME`."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise RuntimeError(
            "OTEL_ENABLED=true needs the otel extra: pip install 'conduit-graphql[otel]'"
        ) from error
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
