"""What observability costs a request: the same app with and without it, side by side.

Usage: `python -m bench.observability_overhead [REQUESTS]` (3000 by default). It needs no
database server: `{ __typename }` runs no SQL, on a throw-away SQLite file.

Two apps are made from the same settings (LOG_LEVEL=WARNING, as the benchmark runs): one as
served, one with the observability taken back out (the `RequestObserver` middleware, and the
`RecordOperation` schema extension). Requests alternate between them in blocks, so drift in the
machine's speed falls on both; the medians of the per-request times are compared. Each path is
measured: the query lane (POSTed plain queries) and Strawberry's (the lane switched off), each
through httpx's ASGITransport as a client sees it and as a bare ASGI call (less noise).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.routing import Route

from db.migrate import upgrade
from db.settings import Settings
from graph.app import create_app
from graph.telemetry.requests import RecordOperation, RequestObserver

BODY = b'{"query": "{ __typename }"}'


def _without_observability(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestObserver]
    for route in app.router.routes:
        if isinstance(route, Route) and route.path == "/graphql":
            schema = route.endpoint.schema  # type: ignore[attr-defined]
            schema.extensions = [e for e in schema.extensions if e is not RecordOperation]
    return app


def _asgi_call(app: FastAPI) -> Callable[[], Awaitable[None]]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200

    async def call() -> None:
        await app(dict(scope), receive, send)

    return call


def _client_call(client: httpx.AsyncClient) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        response = await client.post("/graphql", content=BODY, headers={"Content-Type": "application/json"})
        assert response.status_code == 200

    return call


async def _compare(
    with_: Callable[[], Awaitable[None]], without: Callable[[], Awaitable[None]], requests: int
) -> tuple[float, float]:
    """Median microseconds per request with and without, the two alternating request by request
    (in turn first), so that whatever else the machine does falls on both alike."""
    for _ in range(200):  # warm up
        await with_()
        await without()
    times: tuple[list[float], list[float]] = ([], [])
    pair = ((0, with_), (1, without))
    gc.collect()
    for number in range(requests):
        for side, call in pair if number % 2 else pair[::-1]:
            start = perf_counter()
            await call()
            times[side].append(perf_counter() - start)
    return statistics.median(times[0]) * 1e6, statistics.median(times[1]) * 1e6


async def _measure(url: str, requests: int, **overrides: Any) -> None:
    settings = Settings(database_url=url, environment="test", log_level="WARNING", **overrides)
    observed, bare = create_app(settings), _without_observability(create_app(settings))
    async with observed.router.lifespan_context(observed), bare.router.lifespan_context(bare):
        transports = {
            name: httpx.ASGITransport(app=app) for name, app in (("with", observed), ("without", bare))
        }
        async with (
            httpx.AsyncClient(transport=transports["with"], base_url="http://bench") as with_,
            httpx.AsyncClient(transport=transports["without"], base_url="http://bench") as without,
        ):
            for how, with_call, without_call in (
                ("httpx", _client_call(with_), _client_call(without)),
                ("asgi", _asgi_call(observed), _asgi_call(bare)),
            ):
                observed_median, bare_median = await _compare(with_call, without_call, requests)
                path = "query lane" if settings.dataloader_batching else "strawberry"
                print(
                    f"{path:10} {how:5}  with {observed_median:7.1f} µs   without {bare_median:7.1f} µs"
                    f"   overhead {observed_median - bare_median:5.1f} µs"
                )


async def _run(url: str, requests: int) -> None:
    await _measure(url, requests)
    await _measure(url, requests, dataloader_batching=False)


def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        asyncio.run(_run(url, requests))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
