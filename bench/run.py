"""The load runner: each server pinned to core 0, wrk pinned to core 1, medians into RESULTS.md.

Usage: `python -m bench.run` (after `bench.generate` and `bench.check_same_data`; `make bench`
does all three). BENCH_SECONDS, BENCH_WARMUP, BENCH_ROUNDS and BENCH_CONNECTIONS shorten or
lengthen the run, BENCH_SERVERS and BENCH_OPERATIONS narrow it (see bench/config.py).

BENCH_BASELINE=<git commit> adds that commit of this project as the server `ours-before`, checked
out into a temporary git worktree for the run (bench/baseline.py): it is checked to give ours'
answers to every read, then measured in every round like the others, and the report adds the
ratios ours ÷ ours-before.

Servers are alternated: every round starts each server in turn (the order reversed on odd
rounds), warms each operation up, then measures it; only one server runs at a time. SQL
statements per request are counted separately, for every server the same way: PostgreSQL logs
every statement (`log_statement = 'all'` on the benchmark database only) while a few sequential
requests run, and the new log lines are counted.

CPU time per request is measured over each timed window: the CPU time (utime + stime in
/proc/<pid>/stat) the server's process group used from the window's start until it was idle
again, divided by the requests wrk counted; likewise for the PostgreSQL backends serving the
benchmark database (sampled while the window runs, since pools close connections: DatabaseCpu).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import check_same_data
from bench.baseline import Baseline, checked_out
from bench.check_same_data import check_baseline, pick_targets
from bench.config import BENCH_DIR, PEER, PEER_DIR, BenchConfig, Sizes
from bench.operations import Operation, Targets, chosen
from bench.servers import (
    RESULTS_DIR,
    DatabaseCpu,
    Server,
    all_servers,
    cpu_seconds,
    post,
    running,
    wait_idle,
)

SERVER_CPU = "0"
LOAD_CPU = "1"
POSTGRES_LOG = Path(os.environ.get("BENCH_PG_LOG", "/var/log/postgresql/postgresql-15-main.log"))
STATEMENT_SAMPLES = 10
CONTROL_STATEMENTS = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START|SAVEPOINT|RELEASE|;|SELECT 1\b)", re.I)


@dataclass(frozen=True, slots=True)
class Measurement:
    server: str
    operation: str
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int
    socket_errors: int
    cpu_ms_per_request: float
    database_cpu_ms_per_request: float


@dataclass(frozen=True, slots=True)
class Statements:
    """Statements one request sends: all of them, and the ones that are not transaction control or pings."""

    total: float
    queries: float


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run needs: the configuration, the operations measured, the rows the pages read,
    and the bench user's token."""

    config: BenchConfig
    operations: tuple[Operation, ...]
    targets: Targets
    token: str


def applies(server: Server, operation: Operation) -> bool:
    """PostGraphile only runs the anonymous reads it has a twin for."""
    return server.is_ours or operation.peer_query is not None


def body_file(server: Server, operation: Operation, plan: Plan) -> Path:
    """The request body on disk, where the wrk script reads it."""
    query = operation.query if server.is_ours else operation.peer_query
    body = {"query": query, "variables": operation.variables(plan.targets, peer=not server.is_ours)}
    path = RESULTS_DIR / "bodies" / f"{server.name}-{re.sub(r'[^a-z0-9]+', '-', operation.name)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return path


def wrk_command(config: BenchConfig, url: str, seconds: int) -> list[str]:
    return [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{config.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(BENCH_DIR / "post.lua"),
        url,
    ]


def wrk(config: BenchConfig, url: str, body: Path, token: str | None, seconds: int) -> dict[str, Any]:
    """One wrk run; the Lua script prints its summary as a `BENCH_JSON` line."""
    env = {**os.environ, "BENCH_BODY_FILE": str(body), "BENCH_TOKEN": token or ""}
    result = subprocess.run(
        wrk_command(config, url, seconds),
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            summary: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            return summary
    raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")


def measure(plan: Plan, server: Server, pid: int, operation: Operation, round_number: int) -> Measurement:
    """Warm up, then measure one operation against the running server."""
    body = body_file(server, operation, plan)
    token = plan.token if operation.signed_in else None
    if plan.config.warmup:
        wrk(plan.config, server.url, body, token, plan.config.warmup)
        wait_idle(pid)
    with DatabaseCpu(plan.config.database) as database_cpu:
        cpu_before = cpu_seconds(pid)
        summary = wrk(plan.config, server.url, body, token, plan.config.seconds)
        wait_idle(pid)  # what the server still had accepted is work of this window
        cpu = cpu_seconds(pid) - cpu_before
    seconds = summary["duration_us"] / 1e6
    served = max(1, summary["requests"])
    return Measurement(
        server=server.name,
        operation=operation.name,
        round=round_number,
        # Only good answers count: a server that fails fast is not fast.
        requests_per_second=(summary["requests"] - summary["bad"]) / seconds,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        requests=summary["requests"],
        bad=summary["bad"],
        socket_errors=summary["socket_errors"],
        cpu_ms_per_request=1000 * cpu / served,
        database_cpu_ms_per_request=1000 * database_cpu.seconds / served,
    )


async def _sql(config: BenchConfig, statement: str, *arguments: Any) -> Any:
    connection = await asyncpg.connect(config.dsn())
    try:
        return await connection.fetchval(statement, *arguments)
    finally:
        await connection.close()


def sql(config: BenchConfig, statement: str, *arguments: Any) -> Any:
    return asyncio.run(_sql(config, statement, *arguments))


def remove_written_comments(config: BenchConfig, last_comment_id: int) -> None:
    """The write path adds comments; removing them keeps the data set at its expected size."""
    sql(config, "DELETE FROM comments WHERE id > $1", last_comment_id)


def sign_in(config: BenchConfig) -> str:
    """The bench user's token, from our own `login` mutation (any of our servers will do)."""
    from bench.servers import ours

    server = ours(config)
    with running(server, cpu=None), httpx.Client(timeout=30.0) as client:
        return check_same_data.sign_in(client, server.url)


def logged_statements(since: int, database: str) -> list[str]:
    """Statements PostgreSQL logged for `database` after byte offset `since` of its log."""
    with POSTGRES_LOG.open("rb") as log:
        log.seek(since if POSTGRES_LOG.stat().st_size >= since else 0)
        text = log.read().decode("utf-8", "replace")
    pattern = re.compile(rf"@{re.escape(database)} LOG:  (?:statement|execute [^:]*): (.*)")
    return [match.group(1) for match in pattern.finditer(text)]


def count_statements(plan: Plan, server: Server) -> dict[str, Statements]:
    """Statements per request for each operation, from PostgreSQL's own statement log."""
    if not os.access(POSTGRES_LOG, os.R_OK):
        return {}
    config = plan.config
    sql(config, f"ALTER DATABASE \"{config.database}\" SET log_statement = 'all'")
    counts: dict[str, Statements] = {}
    last_comment_id = sql(config, "SELECT coalesce(max(id), 0) FROM comments")
    try:
        with running(server, cpu=None), httpx.Client(timeout=30.0) as client:
            for operation in (o for o in plan.operations if applies(server, o)):
                query = operation.query if server.is_ours else operation.peer_query
                assert query is not None
                variables = operation.variables(plan.targets, peer=not server.is_ours)
                token = plan.token if operation.signed_in else None
                for _ in range(3):  # connections opened, statements prepared
                    post(client, server.url, query, variables, token)
                time.sleep(0.5)
                offset = POSTGRES_LOG.stat().st_size
                for _ in range(STATEMENT_SAMPLES):
                    post(client, server.url, query, variables, token)
                time.sleep(1.0)  # the logger writes asynchronously
                statements = logged_statements(offset, config.database)
                queries = [s for s in statements if not CONTROL_STATEMENTS.match(s)]
                counts[operation.name] = Statements(
                    len(statements) / STATEMENT_SAMPLES, len(queries) / STATEMENT_SAMPLES
                )
    finally:
        sql(config, f'ALTER DATABASE "{config.database}" RESET log_statement')
        remove_written_comments(config, last_comment_id)
    return counts


def run_rounds(plan: Plan, servers: list[Server]) -> list[Measurement]:
    """Every round runs every server (order reversed on odd rounds) on every operation it has."""
    measurements: list[Measurement] = []
    last_comment_id = sql(plan.config, "SELECT coalesce(max(id), 0) FROM comments")
    for round_number in range(plan.config.rounds):
        order = servers if round_number % 2 == 0 else list(reversed(servers))
        for server in order:
            with running(server, cpu=SERVER_CPU) as pid:
                for operation in (o for o in plan.operations if applies(server, o)):
                    wait_idle(pid)
                    result = measure(plan, server, pid, operation, round_number)
                    print(
                        f"bench: round {round_number + 1} {server.name:13} {operation.name:24} "
                        f"{result.requests_per_second:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:7.2f} ms  CPU {result.cpu_ms_per_request:6.2f} ms/req  "
                        f"DB CPU {result.database_cpu_ms_per_request:6.2f} ms/req  bad {result.bad}",
                        flush=True,
                    )
                    measurements.append(result)
            remove_written_comments(plan.config, last_comment_id)
    return measurements


def busy_cpu_percent(seconds: float = 3.0) -> float:
    """Machine-wide CPU use over a few seconds while nothing of ours runs: other people's load."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    busy_before, total_before = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    return 100.0 * (busy_after - busy_before) / max(1, total_after - total_before)


def top_processes() -> list[str]:
    result = subprocess.run(
        ["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"], capture_output=True, text=True
    )
    return [" ".join(line.split()) for line in result.stdout.splitlines()[:6]]


def peer_versions() -> dict[str, str]:
    node = subprocess.run(
        [str(PEER_DIR / "node_modules/node/bin/node"), "--version"], capture_output=True, text=True
    )
    peer = json.loads((PEER_DIR / "node_modules/postgraphile/package.json").read_text())
    return {"postgraphile": peer["version"], "node": node.stdout.strip()}


def versions(config: BenchConfig, servers: list[Server], baseline: Baseline | None) -> dict[str, str]:
    """What ran; PostGraphile's only when it ran (its node_modules need not be installed
    otherwise), the baseline's commit when there was one."""
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    found = {
        "python": platform.python_version(),
        "strawberry-graphql": version("strawberry-graphql"),
        "graphql-core": version("graphql-core"),
        "sqlalchemy": version("sqlalchemy"),
        "asyncpg": version("asyncpg"),
        "fastapi": version("fastapi"),
        "uvicorn": version("uvicorn"),
        **(peer_versions() if any(server.name == PEER for server in servers) else {}),
        "postgresql": str(sql(config, "SHOW server_version")),
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("\n", 1)[0].strip(),
        "conduit-graphql commit": git_state(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
    }
    if baseline is not None:
        found["ours-before commit"] = f"{baseline.short} (`{baseline.asked}`: {baseline.subject})"
    return found


def git_state() -> str:
    """The commit measured, and whether the working tree differed from it (others edit it live)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "graph", "db", "migrations"], capture_output=True, text=True
    )
    state = head.stdout.strip() or "unknown"
    return f"{state} (with uncommitted changes in graph/db)" if dirty.stdout.strip() else state


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    return f"unknown x {os.cpu_count()}"


def medians(measurements: list[Measurement]) -> dict[tuple[str, str], dict[str, float]]:
    grouped: dict[tuple[str, str], list[Measurement]] = {}
    for m in measurements:
        grouped.setdefault((m.server, m.operation), []).append(m)
    return {
        key: {
            "rps": statistics.median(m.requests_per_second for m in runs),
            "p50": statistics.median(m.p50_ms for m in runs),
            "p99": statistics.median(m.p99_ms for m in runs),
            "cpu": statistics.median(m.cpu_ms_per_request for m in runs),
            "db_cpu": statistics.median(m.database_cpu_ms_per_request for m in runs),
            "runs": len(runs),
            "bad": sum(m.bad + m.socket_errors for m in runs),
        }
        for key, runs in grouped.items()
    }


@contextmanager
def baseline_of(config: BenchConfig) -> Iterator[Baseline | None]:
    """The baseline commit's worktree for the run, or None without BENCH_BASELINE."""
    if config.baseline is None:
        yield None
        return
    with checked_out(config.baseline) as baseline:
        yield baseline


def main() -> None:
    config = BenchConfig.from_env()
    operations = chosen(config.operations)
    with baseline_of(config) as baseline:
        run(config, operations, baseline)


def run(config: BenchConfig, operations: tuple[Operation, ...], baseline: Baseline | None) -> None:
    """Check the baseline, count statements, measure every round, and write the report."""
    from bench.report import write_report

    started = datetime.now(UTC)
    background_before = busy_cpu_percent()
    processes_before = top_processes()
    targets = asyncio.run(pick_targets(config))
    plan = Plan(config, operations, targets, sign_in(config))
    servers = all_servers(config, baseline)
    if baseline is not None:
        check_baseline(config, targets, servers)
    statements = {server.name: count_statements(plan, server) for server in servers}
    measurements = run_rounds(plan, servers)
    background_after = busy_cpu_percent()
    context = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "background_cpu_percent": (background_before, background_after),
        "processes_before": processes_before,
        "load_average_after": os.getloadavg(),
        "versions": versions(config, servers, baseline),
        "sizes": asdict(Sizes()),
        "targets": asdict(targets),
        "operations": [operation.name for operation in operations],
        "baseline": None if baseline is None else {"asked": baseline.asked, "commit": baseline.commit},
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    raw = RESULTS_DIR / f"raw-{started:%Y%m%dT%H%M%S}.json"
    raw.write_text(
        json.dumps(
            {
                "context": context,
                "measurements": [asdict(m) for m in measurements],
                "statements": {s: {o: asdict(c) for o, c in ops.items()} for s, ops in statements.items()},
            },
            indent=2,
        )
    )
    write_report(
        config, servers, operations, context, medians(measurements), statements, BENCH_DIR / "RESULTS.md"
    )
    print(f"bench: wrote {BENCH_DIR / 'RESULTS.md'} (raw numbers in {raw})")


if __name__ == "__main__":
    main()
