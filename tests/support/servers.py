"""Real servers for the tests that need sockets: uvicorn in this event loop, or in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from db.settings import Settings
from graph.transport.protocol import PROTOCOL

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tests" / "client"
CACHES = ROOT / "tests" / "caches"
#: The npm graphql-sse client's package (its own, so that tests/client's lock stays as it is).
SSE_CLIENT = ROOT / "tests" / "sse"
#: `conduit serve` bounds WebSocket messages by MAX_REQUEST_BYTES; the servers here do too.
DEFAULT_MAX_REQUEST_BYTES: int = Settings.model_fields["max_request_bytes"].default


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving_in_loop(app: FastAPI, *, ws_max_size: int | None = None) -> AsyncIterator[str]:
    """Serve an app whose lifespan already ran, on a free port, in this event loop; yields host:port.

    WebSocket messages are bounded by the app's `MAX_REQUEST_BYTES`, as `conduit serve` bounds
    them, unless `ws_max_size` says otherwise (to see what the app does under another server).
    """
    port = free_port()
    if ws_max_size is None:
        services = getattr(app.state, "services", None)  # not every app served here is ours
        ws_max_size = DEFAULT_MAX_REQUEST_BYTES if services is None else services.settings.max_request_bytes
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        http=PROTOCOL,
        ws="websockets-sansio",
        ws_max_size=ws_max_size,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def serving_process(database_url: str, *, workers: int = 1, **env: str) -> Iterator[str]:
    """`uvicorn graph.app:create_app --factory` in a subprocess on a free port; yields its base URL."""
    with server_process(database_url, workers=workers, **env) as (base, _):
        yield base


@contextlib.contextmanager
def server_process(
    database_url: str, *, workers: int = 1, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`serving_process` that also yields the process, for tests that signal it themselves."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "graph.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--http", PROTOCOL, "--ws", "websockets-sansio"]
    command += ["--ws-max-size", env.get("MAX_REQUEST_BYTES", str(DEFAULT_MAX_REQUEST_BYTES))]
    with _started(command, port, database_url, env) as started:
        yield started


@contextlib.contextmanager
def conduit_serve(
    database_url: str, *arguments: str, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`conduit serve` itself (its options, its uvicorn settings) on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "graph.cli", "serve", "--port", str(port), *arguments]
    with _started(command, port, database_url, {"LOG_LEVEL": "WARNING", **env}) as started:
        yield started


@contextlib.contextmanager
def _started(
    command: list[str], port: int, database_url: str, env: dict[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `command` until it answers /health/ready on `port`; SIGTERM it (and its workers) at the end."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "64",
        **env,
    }
    process = subprocess.Popen(command, cwd=ROOT, env=environment, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the server exited with {process.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the server did not become ready in 30 s"
            time.sleep(0.1)
        yield base, process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group a test started (`start_new_session`), SIGKILL after 10 s."""
    with contextlib.suppress(ProcessLookupError):  # the test may have stopped it already
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def subscribe_and_comment(subscriber_base: str, mutations_base: str, comments: int) -> dict[str, Any]:
    """tests/client/subscribe.mjs (the npm graphql-ws client): subscribes on one server, adds
    `comments` comments through the other; what it sent and received."""
    ws_url = subscriber_base.replace("http://", "ws://") + "/graphql"
    finished = subprocess.run(
        ["node", "subscribe.mjs", ws_url, f"{mutations_base}/graphql", str(comments)],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def npm_ci(directory: Path = CLIENT) -> None:
    """Install the locked npm dependencies of `directory` (tests/client by default) when its
    node_modules is missing."""
    if not (directory / "node_modules" / ".package-lock.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory, check=True)
