"""RESULTS.md: what was measured, on what, how, and the medians with their ratios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.operations import OPERATIONS
from bench.servers import Server

# Above this share of the machine busy with other work before or after the run, the report says so.
BUSY_THRESHOLD_PERCENT = 5.0


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def _statements(statements: dict[str, dict[str, Any]], server: str, operation: str) -> str:
    counted = statements.get(server, {}).get(operation)
    if counted is None:
        return "-"
    return f"{counted.total:g} ({counted.queries:g})"


def _machine(context: dict[str, Any]) -> list[str]:
    before, after = context["background_cpu_percent"]
    lines = [
        f"- Machine: {context['versions']['cpu']}, Linux {context['versions']['kernel']}.",
        f"- Run: {context['started']} to {context['finished']} (UTC).",
        f"- Other load: {before:.0f}% of all CPU was busy with other processes in the 3 s before the run, "
        f"{after:.0f}% in the 3 s after; load average after the run "
        f"{', '.join(f'{v:.2f}' for v in context['load_average_after'])}.",
    ]
    if max(before, after) > BUSY_THRESHOLD_PERCENT:
        lines.append(
            "- **The machine was busy**: other processes (other agents' test suites) were running "
            "during the measurement, so absolute numbers are noisy and low; compare the ratios, "
            "which were measured under the same conditions with the servers alternated. Busiest "
            "processes before the run (%CPU, command): " + "; ".join(context["processes_before"]) + "."
        )
    return lines


def _method(config: BenchConfig, servers: list[Server], context: dict[str, Any]) -> list[str]:
    from bench.run import LOAD_CPU, SERVER_CPU, wrk_command

    wrk_line = " ".join(wrk_command(config, "http://127.0.0.1:PORT/graphql", config.seconds))
    return [
        "## Method",
        "",
        f"- Each server is one process pinned to core {SERVER_CPU} (`taskset -c {SERVER_CPU}`); only one "
        f"server runs at a time. The load generator, wrk, is pinned to core {LOAD_CPU}. PostgreSQL is "
        "not pinned: it shares both cores with them, as it would share a small host.",
        f"- {config.connections} connections, one wrk thread; per operation a {config.warmup} s warm-up, "
        f"then {config.seconds} s measured. {config.rounds} rounds; each round starts every server in "
        "turn, the order reversed on every other round. Reported numbers are medians over rounds.",
        '- A request counts as bad when its status is not 200 or its body contains `"errors":[{` '
        "(a GraphQL error, or a user error in the mutation payload); the `bad` column must be 0.",
        "- **SQL per request** is counted the same way for every server: `log_statement = 'all'` is "
        "set on the benchmark database only, each operation is sent 3 times (warm-up) then 10 times "
        "sequentially, and the statements PostgreSQL logged for the database are divided by 10. "
        "The first number is every statement; the one in brackets leaves out transaction control "
        "(BEGIN/COMMIT/ROLLBACK) and connection pings (`;`, `SELECT 1`). This runs outside the "
        "timed measurements.",
        "- `favorited`/`following` depend on the viewer and PostGraphile has no viewer, so only the "
        "anonymous reads are compared with it; `feed (signed in)` and `addComment` compare our "
        "server with its N+1 baseline only. The comments `addComment` writes are deleted afterwards.",
        f"- `one` reads `{context['slug']}` (the lowest id with at least 25 comments); "
        f"`addComment` writes to `{context['write_slug']}`.",
        "- Before measuring, `bench/check_same_data.py` checked that all three servers return the same "
        "data for feed, deep and one (names normalised: `userByAuthorId` → `author`, tags through "
        "`articleTagsByArticleId` ordered by position, timestamps compared as instants).",
        "",
        "Commands (the token, the request body and the secret are supplied by `bench/run.py`):",
        "",
        "```sh",
        "make bench   # = python -m bench.generate --if-needed; python -m bench.check_same_data; "
        "python -m bench.run",
        *(server.shell_command(SERVER_CPU) for server in servers),
        f"BENCH_BODY_FILE=body.json BENCH_TOKEN=… {wrk_line}",
        "```",
    ]


def _results(
    servers: list[Server], medians: dict[tuple[str, str], dict[str, float]], statements: dict[str, Any]
) -> list[str]:
    lines = [
        "## Medians",
        "",
        "| operation | server | req/s | p50 ms | p99 ms | SQL/req (queries) | runs | bad |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for operation in OPERATIONS:
        for server in servers:
            found = medians.get((server.name, operation.name))
            if found is None:
                continue
            lines.append(
                f"| {operation.name} | {server.name} | {found['rps']:.1f} | {found['p50']:.2f} | "
                f"{found['p99']:.2f} | {_statements(statements, server.name, operation.name)} | "
                f"{found['runs']:.0f} | {found['bad']:.0f} |"
            )
    lines += [
        "",
        "## Ratios (ours ÷ peer)",
        "",
        "Throughput ratio above 1 and latency ratio below 1 mean our server is faster.",
        "",
        "| operation | req/s vs PostGraphile | p50 vs PostGraphile | req/s vs N+1 | p50 vs N+1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for operation in OPERATIONS:
        ours = medians.get(("ours", operation.name), {})
        peer = medians.get(("postgraphile", operation.name), {})
        baseline = medians.get(("ours-n+1", operation.name), {})
        lines.append(
            f"| {operation.name} | {_ratio(ours.get('rps'), peer.get('rps'))} | "
            f"{_ratio(ours.get('p50'), peer.get('p50'))} | {_ratio(ours.get('rps'), baseline.get('rps'))} | "
            f"{_ratio(ours.get('p50'), baseline.get('p50'))} |"
        )
    return lines


def _operations() -> list[str]:
    lines = ["## Operations", ""]
    for operation in OPERATIONS:
        lines += [f"**{operation.name}**", "", "```graphql", operation.query, "```", ""]
        if operation.peer_query and operation.peer_query != operation.query:
            lines += ["PostGraphile:", "", "```graphql", operation.peer_query, "```", ""]
    return lines


def write_report(
    config: BenchConfig,
    servers: list[Server],
    context: dict[str, Any],
    medians: dict[tuple[str, str], dict[str, float]],
    statements: dict[str, Any],
    path: Path,
) -> None:
    versions = context["versions"]
    sizes = context["sizes"]
    lines = [
        "# Benchmark results",
        "",
        "Conduit GraphQL (ours), the same server with DataLoader batching off (ours-n+1, the N+1 "
        "baseline), and PostGraphile 5, serving the same PostgreSQL database. Produced by `make bench`.",
        "",
        *_machine(context),
        "",
        "## Versions",
        "",
        "| component | version |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in versions.items()),
        "",
        "## Data set",
        "",
        "Deterministic (`bench/generate.py`, fixed seed), loaded with COPY after the project's own "
        "migrations: " + ", ".join(f"{count:,} {table}" for table, count in sizes.items()) + "; "
        "about 3 tags per article, ~1 KB article bodies; the newest articles carry the most comments.",
        "",
        *_method(config, servers, context),
        "",
        *_results(servers, medians, statements),
        "",
        *_operations(),
    ]
    path.write_text("\n".join(lines))
