"""Prometheus metrics of one app: operations and their latency, errors by code, the pool.

Each app has a registry of its own (never prometheus-client's global one), made with the app
and kept on `app.state.metrics`: the tests make many apps in one process, and two apps must
not count into each other's series. With several worker processes the series are shared
through files as well, and a scrape adds up every worker's (graph/telemetry/multiprocess.py).

Operation names come from clients, and every distinct label value is a series Prometheus
keeps forever. So a name is a label only if it is a GraphQL name of at most 64 characters and
one of the first `METRICS_MAX_OPERATION_NAMES` seen; the rest count as `(other)`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response

from graph.telemetry.multiprocess import ProcessFiles

ANONYMOUS = "(anonymous)"
OTHER = "(other)"
UNKNOWN_TYPE = "unknown"

#: From a millisecond (a cached read) to ten seconds (past the statement timeout).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_MAX_ERROR_CODES = 50
_BOUNDS = (*map(floatToGoString, LATENCY_BUCKETS), "+Inf")
_OPERATION = ("operation", "operation_type")
_CODE = ("code",)
_REASON = ("reason",)


class BoundedLabels:
    """Label values taken from outside: well-formed ones, up to `limit` distinct, else `(other)`."""

    def __init__(self, pattern: re.Pattern[str], limit: int) -> None:
        self._pattern = pattern
        self._limit = limit
        self._known: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._known:
            return value
        if len(self._known) >= self._limit or self._pattern.fullmatch(value) is None:
            return OTHER
        self._known.add(value)
        return value


class PoolCollector:
    """Reads the connection pool at scrape time, so the gauges cost nothing between scrapes.

    Only a `QueuePool` (PostgreSQL, and SQLite on a file) counts its connections; another pool
    (an in-memory SQLite database's `StaticPool`) reports nothing rather than made-up numbers.
    """

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        values = self.values()
        if values is None:
            return []
        families = self._families()
        for family, value in zip(families, values, strict=True):
            family.add_metric([], value)
        return families

    def values(self) -> tuple[int, int, int, int] | None:
        """Size, checked out, checked in, overflow; None without a `QueuePool`."""
        # Read through the engine: `dispose()` gives it a new pool.
        pool = self.engine.sync_engine.pool if self.engine is not None else None
        if not isinstance(pool, QueuePool):
            return None
        return (pool.size(), pool.checkedout(), pool.checkedin(), max(pool.overflow(), 0))

    def share(self, files: ProcessFiles) -> None:
        """Write the gauges to this worker's files (summed over the live workers)."""
        values = self.values()
        if values is not None:
            for family, value in zip(self._families(), values, strict=True):
                files.gauge(family.name, family.documentation, value)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily("conduit_db_pool_size", "Connections the pool keeps open."),
            GaugeMetricFamily("conduit_db_pool_checked_out", "Connections in use by requests."),
            GaugeMetricFamily("conduit_db_pool_checked_in", "Idle connections waiting in the pool."),
            GaugeMetricFamily(
                "conduit_db_pool_overflow", "Connections open beyond the pool size (DB_MAX_OVERFLOW)."
            ),
        ]


class _Latencies:
    """One operation's count, total and histogram buckets (not cumulative; the last is +Inf)."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)


class Metrics:
    """The app's registry, and the request families it collects at scrape time.

    A request adds to plain numbers (prometheus-client's `Counter` and `Histogram` take a lock
    and cost several microseconds each); they become metric families only when scraped. Both
    happen in the event loop's thread, never at once.
    """

    def __init__(self, max_operation_names: int, shared_directory: str | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.files = ProcessFiles(shared_directory) if shared_directory else None
        """This worker's share of the series, when several workers serve (else None)."""
        self.pool = PoolCollector()
        self.registry.register(self)
        self.registry.register(self.pool)
        self._operations = BoundedLabels(_GRAPHQL_NAME, max_operation_names)
        self._codes = BoundedLabels(_ERROR_CODE, _MAX_ERROR_CODES)
        self._latencies: dict[tuple[str, str], _Latencies] = {}
        self._errors: dict[str, int] = {}
        self._fallbacks: dict[str, int] = {}

    def observe(
        self, name: str | None, operation_type: str | None, error_codes: Iterable[str], seconds: float
    ) -> None:
        """Count one GraphQL request that took `seconds` and answered these error codes."""
        key = (self._operations(name) if name else ANONYMOUS, operation_type or UNKNOWN_TYPE)
        latencies = self._latencies.get(key)
        if latencies is None:
            latencies = self._latencies[key] = _Latencies()
        latencies.count += 1
        latencies.total += seconds
        bucket = bisect_left(LATENCY_BUCKETS, seconds)
        latencies.buckets[bucket] += 1
        codes = [self._codes(code) for code in error_codes]
        for label in codes:
            self._errors[label] = self._errors.get(label, 0) + 1
        if self.files is not None:
            self._share(key, latencies, bucket, codes)

    def fallback(self, reason: str) -> None:
        """Count one query the level-wise executor handed to graphql-core (reasons are ours)."""
        self._fallbacks[reason] = self._fallbacks.get(reason, 0) + 1
        if self.files is not None:
            family = self._families()[3]
            self.files.counter(family.name, family.documentation, _REASON, (reason,), self._fallbacks[reason])

    def _share(self, key: tuple[str, str], latencies: _Latencies, bucket: int, codes: list[str]) -> None:
        """Write what one request changed to this worker's files, and the pool's gauges."""
        assert self.files is not None
        requests, latency, errors, _ = self._families()
        self.files.counter(requests.name, requests.documentation, _OPERATION, key, latencies.count)
        bound = _BOUNDS[bucket]
        in_bucket = latencies.buckets[bucket]
        self.files.histogram(
            latency.name, latency.documentation, _OPERATION, key, bound, in_bucket, latencies.total
        )
        for code in codes:
            self.files.counter(errors.name, errors.documentation, _CODE, (code,), self._errors[code])
        self.pool.share(self.files)

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        requests, latency, errors, fallbacks = families = self._families()
        for key, latencies in self._latencies.items():
            requests.add_metric(key, latencies.count)
            cumulative = zip(_BOUNDS, accumulate(latencies.buckets), strict=True)
            latency.add_metric(key, list(cumulative), latencies.total)
        for code, count in self._errors.items():
            errors.add_metric([code], count)
        for reason, count in self._fallbacks.items():
            fallbacks.add_metric([reason], count)
        return families

    @staticmethod
    def _families() -> tuple[
        CounterMetricFamily, HistogramMetricFamily, CounterMetricFamily, CounterMetricFamily
    ]:
        return (
            CounterMetricFamily(
                "conduit_graphql_requests",
                "GraphQL requests over HTTP, by operation name and type.",
                labels=_OPERATION,
            ),
            HistogramMetricFamily(
                "conduit_graphql_request_duration_seconds",
                "Time from a request's arrival to its response's last byte.",
                labels=_OPERATION,
            ),
            CounterMetricFamily(
                "conduit_graphql_errors",
                "Errors answered, by code: GraphQL errors' extensions.code and mutation payloads' codes.",
                labels=_CODE,
            ),
            CounterMetricFamily(
                "conduit_graphql_fallbacks",
                "Queries the level-wise executor handed to graphql-core, by reason "
                "(graph/execution/fallbacks.py).",
                labels=_REASON,
            ),
        )

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry in the format the scraper asked for, and that format's content type:
        with several workers, every worker's series added up from their files."""
        encode, content_type = choose_encoder(accept or "")
        if self.files is None:
            return encode(self.registry), content_type
        self.pool.share(self.files)
        self.files.prune_dead_workers()
        return encode(self.files.registry), content_type


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: the app's registry, in the exposition format the scraper accepts."""
    metrics: Metrics = request.app.state.metrics
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})
