"""The servers under test (ours, PostGraphile, ours with batching off, and with BENCH_BASELINE an
earlier commit of ours), and starting/stopping one as a process pinned to one core.

Each server runs in its own process group, so stopping it also stops anything it spawned
(PostGraphile's node binary is a wrapper); only the group we started is ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from bench import baseline as baselines
from bench.baseline import Baseline
from bench.config import BASELINE, N_PLUS_ONE, OURS, PEER, PEER_DIR, PROJECT_ROOT, SECRET_KEY, BenchConfig
from db.settings import Settings

READY_TIMEOUT_SECONDS = 90.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Server:
    """How to start one server: its command, environment and port."""

    name: str
    description: str
    command: tuple[str, ...]
    port: int
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    is_ours: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def shell_command(self, cpu: str) -> str:
        """The command as a person would type it, for RESULTS.md."""
        env = " ".join(f"{k}={v}" for k, v in self.env.items() if k != "SECRET_KEY")
        secret = " SECRET_KEY=…" if "SECRET_KEY" in self.env else ""
        return f"(cd {self.cwd.name}; {env}{secret} taskset -c {cpu} {' '.join(self.command)})"


def ours(config: BenchConfig, *, batching: bool = True, port: int = 8101) -> Server:
    """Our app under uvicorn as `conduit serve` runs it (uvloop, httptools with its writes joined:
    graph/transport/protocol.py), one worker, no access log, production settings."""
    return Server(
        name=OURS if batching else N_PLUS_ONE,
        description="Conduit GraphQL" + ("" if batching else " with DataLoader batching off (N+1)"),
        command=(
            sys.executable,
            "-m",
            "uvicorn",
            "graph.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "graph.transport.protocol:HttpProtocol",
            "--log-level",
            "warning",
            "--ws-max-size",  # as `conduit serve`: WebSocket messages bounded by MAX_REQUEST_BYTES
            str(Settings.model_fields["max_request_bytes"].default),
        ),
        port=port,
        cwd=PROJECT_ROOT,
        env={
            "DATABASE_URL": config.sqlalchemy_url,
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "WARNING",
            "DATALOADER_BATCHING": "true" if batching else "false",
            "SECRET_KEY": SECRET_KEY,
        },
    )


def postgraphile(config: BenchConfig, port: int = 8103) -> Server:
    """PostGraphile 5 with the shared production-like preset, on Node 22 from node_modules."""
    return Server(
        name=PEER,
        description="PostGraphile 5 (Amber preset, pool of 10)",
        command=(
            "node_modules/node/bin/node",
            "node_modules/postgraphile/dist/cli-run.js",
            "-C",
            "graphile.config.mjs",
        ),
        port=port,
        cwd=PEER_DIR,
        env={
            "GRAPHILE_ENV": "production",
            "NODE_ENV": "production",
            "DATABASE_URL": config.dsn(),
            "PORT": str(port),
        },
        is_ours=False,
    )


def before(config: BenchConfig, baseline: Baseline, port: int = 8104) -> Server:
    """Ours as it was at the baseline commit: the same command, settings and venv Python, run in
    the commit's worktree with it first on the import path (`bench/baseline.py`)."""
    server = ours(config, port=port)
    return replace(
        server,
        name=BASELINE,
        description=f"Conduit GraphQL at {baseline.short} ({baseline.subject[:60]})",
        cwd=baseline.path,
        env={**server.env, **baselines.environment(baseline.path)},
    )


def all_servers(config: BenchConfig, baseline: Baseline | None = None) -> list[Server]:
    """The servers this run measures (BENCH_SERVERS), in the order a round starts them; the
    baseline only when its worktree is given."""
    servers = [
        ours(config),
        *((before(config, baseline),) if baseline is not None else ()),
        postgraphile(config),
        ours(config, batching=False, port=8102),
    ]
    return [server for server in servers if config.runs(server.name)]


def post(
    client: httpx.Client,
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """One GraphQL request; raises on HTTP errors or GraphQL errors, which the benchmark never expects."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(url, json={"query": query, "variables": variables or {}}, headers=headers)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    if answer.get("errors"):
        raise RuntimeError(f"{url} answered with errors: {answer['errors']}")
    return answer["data"]  # type: ignore[no-any-return]


def _wait_ready(server: Server, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `{ __typename }` until it answers: that is when the schema and the pool are up."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {process.returncode}; see {log}")
            try:
                post(client, server.url, "{ __typename }")
                return
            except (httpx.HTTPError, RuntimeError):
                time.sleep(0.25)
    raise RuntimeError(f"{server.name} was not ready after {READY_TIMEOUT_SECONDS}s; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group we started, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass


def _stat(pid: str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces); None
    when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by every process of the group `pid` leads.

    A server is started as the leader of its own process group, and PostGraphile's `node` is a
    wrapper that runs the real node as a child, so the whole group is what serves.
    """
    ticks = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) is not None and fields[2] == str(pid):
            ticks += _ticks(fields)
    return ticks / os.sysconf("SC_CLK_TCK")


class DatabaseCpu:
    """CPU time used by the PostgreSQL backends connected to one database during a `with` block.

    Servers differ in how much of a request they leave to PostgreSQL (PostGraphile has it build
    the JSON), so the server's own CPU alone would favour the one that does less itself. Pools
    close and open connections under load (ours opens overflow connections past its pool size
    and closes them when they come back), and an exited backend's time leaves /proc with it, so
    a thread samples the backends every `interval` seconds and each one counts with the last
    time it was seen: at most `interval` of a closed backend's work is lost. A backend's title is
    `postgres: [<cluster name>:] <user> <database> <client> <state>`.
    """

    def __init__(self, database: str, interval: float = 0.2) -> None:
        self._database = database.encode()
        self._interval = interval
        self._ours: dict[str, bool] = {}  # pid -> whether it is a backend of the database
        self._start: dict[str, int] = {}
        self._last: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def _is_ours(self, pid: str) -> bool:
        if pid not in self._ours:
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].split()
            except (FileNotFoundError, ProcessLookupError):
                return False
            if title[:1] == [b"postgres:"]:
                self._ours[pid] = self._database in title[2:4]
            elif title and title[0].endswith(b"/postgres"):
                return False  # a backend just forked, not yet titled: look again next time
            else:
                self._ours[pid] = False
        return self._ours[pid]

    def _sample(self) -> dict[str, int]:
        ticks = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and self._is_ours(entry) and (fields := _stat(entry)) is not None:
                ticks[entry] = _ticks(fields)
        return ticks

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._interval):
            self._last.update(self._sample())

    def __enter__(self) -> DatabaseCpu:
        self._start = self._sample()
        self._last = dict(self._start)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._sample())

    @property
    def seconds(self) -> float:
        ticks = sum(last - self._start.get(pid, 0) for pid, last in self._last.items())
        return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, timeout: float = 60.0) -> None:
    """Wait until the server stops burning CPU on requests wrk gave up on.

    wrk stops at its deadline but the server still works through what it had accepted; without
    this, that backlog would be billed to the next operation measured.
    """
    deadline = time.monotonic() + timeout
    previous = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        current = cpu_seconds(pid)
        if current - previous < 0.01:
            return
        previous = current


@contextmanager
def running(server: Server, cpu: str | None = "0") -> Iterator[int]:
    """The server started (pinned to `cpu` when given) and ready; stopped when the block ends.

    Yields the process id, for `wait_idle`.
    """
    RESULTS_DIR.mkdir(exist_ok=True)
    log = RESULTS_DIR / f"{server.name}.log"
    command = (*(("taskset", "-c", cpu) if cpu else ()), *server.command)
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=server.cwd,
            env={**os.environ, **server.env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(server, process, log)
        yield process.pid
    finally:
        _stop(process)
