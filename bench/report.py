"""RESULTS.md: what was measured, on what, how, and the medians with their ratios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import BASELINE, BENCH_USERNAME, N_PLUS_ONE, OURS, PEER, BenchConfig
from bench.operations import Operation
from bench.servers import Server

# Why an operation has no PostGraphile twin.
NO_TWIN = {
    "feed (signed in)": "`favorited`/`following` are the viewer's; PostGraphile has no viewer.",
    "addComment (signed in)": "a write as the signed-in viewer; PostGraphile has no viewer.",
    "your feed (signed in)": "the viewer's feed. A twin given the viewer's id (the followed "
    "authors' articles, through a SQL function) would skip the token check and the viewer's "
    "row, and could not say `favorited`/`following`: not the same work.",
    "article (signed in)": "`favorited` and the author's `following` are the viewer's.",
    "settings (signed in)": "the viewer's own account: nothing to read without a viewer.",
}

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


def _cpu(found: dict[str, float]) -> float | None:
    """CPU per request of the server and its database backends together."""
    if "cpu" not in found:
        return None
    return found["cpu"] + found["db_cpu"]


def _targets(targets: dict[str, str]) -> list[str]:
    return [
        f"- `one` and the article pages read `{targets['slug']}` (the lowest id with at least 25 "
        f"comments); the tag feed `{targets['tag']}` (the most used tag); the profile pages "
        f"`{targets['username']}` (the lowest id with 10 articles, 10 favorites and a follower). "
        f"`addComment` writes to `{targets['write_slug']}`. Signed-in operations are the bench user's "
        f"(`{BENCH_USERNAME}`, user 1), who follows the authors of the 10 newest articles and has "
        "favorited some of them.",
    ]


def _twins(operations: tuple[Operation, ...]) -> list[str]:
    """Which operations PostGraphile runs too, and why the others have no twin."""
    lines = [
        "- **Twins.** PostGraphile runs "
        + ", ".join(f"`{o.name}`" for o in operations if o.peer_query)
        + ". "
        "Its twins leave out `favorited` and the author's `following` (false for anonymous "
        "requests; PostGraphile has no viewer), so those fields cost ours some work the twin does "
        "not do. `home`'s popular tags and the `tag feed` read the two views of "
        "`bench/peers/postgraphile/custom_queries.sql` (`allPeerTagUsages`, `allPeerTaggedArticles`): "
        "the Amber preset cannot order tags by use or a tag's articles by date, and a view is "
        "PostGraphile's way to serve such a list. PostgreSQL inlines a view into PostGraphile's "
        "query, so the page's LIMIT reaches the indexes; a set-returning SQL function, tried first, "
        "cost PostgreSQL ~100 times our database time per `tag feed` request in a smoke run, the "
        "LIMIT evidently not reaching into it, which would have measured our SQL, not "
        "PostGraphile. Profiles are looked up by "
        "`username_key` (what our `user(username:)` compares).",
        "- **No twin** (ours against ours-n+1 only):",
    ]
    return lines + [
        f"  - `{operation.name}`: {NO_TWIN[operation.name]}"
        for operation in operations
        if not operation.peer_query
    ]


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


def _baseline(servers: list[Server], context: dict[str, Any]) -> list[str]:
    """How the baseline commit was run and checked, when there was one."""
    baseline = context.get("baseline")
    if baseline is None or not any(server.name == BASELINE for server in servers):
        return []
    return [
        f"- **{BASELINE}** is this project at commit `{baseline['commit'][:9]}` (`BENCH_BASELINE="
        f"{baseline['asked']}`), checked out by `bench/run.py` into a temporary git worktree "
        "(`git worktree add --detach`, removed after the run) and run by the same venv's Python with "
        "the worktree first on `PYTHONPATH` (checked: it imports its own `graph` and `db`); its "
        "requirements.lock is ours, byte for byte, or the run is refused. It runs with the same "
        "command, settings and pinning as ours, in every round, and before measuring `bench/run.py` "
        "checked that it gives identical answers to ours for every read, signed in or not.",
    ]


def _method(
    config: BenchConfig, servers: list[Server], operations: tuple[Operation, ...], context: dict[str, Any]
) -> list[str]:
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
        "- The comments `addComment` writes are deleted afterwards.",
        "- **CPU ms/req** is the CPU time (user + system, from `/proc/<pid>/stat`) the server's "
        "process group used from the start of the timed window until it was idle again (the "
        "requests it had accepted when wrk stopped are work of the window), divided by the requests "
        "wrk counted. **DB CPU ms/req** is the same for the PostgreSQL backends connected to the "
        "benchmark database: PostGraphile leaves more of a request to PostgreSQL (it has it build "
        "the JSON), so the two are shown side by side and the ratio is taken of their sum.",
        *_targets(context["targets"]),
        "- Before measuring, `bench/check_same_data.py` checked that the servers return the same "
        "data for every operation with a PostGraphile twin (names normalised: `userByAuthorId` → "
        "`author`, tags through `articleTagsByArticleId` ordered by position, timestamps compared as "
        "instants, comments by primary key since the two servers' global IDs differ), and that ours "
        "and ours-n+1 give identical answers to every read, signed in or not.",
        *_baseline(servers, context),
        *_twins(operations),
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


def _peer_ratios(
    operations: tuple[Operation, ...], medians: dict[tuple[str, str], dict[str, float]]
) -> list[str]:
    lines = [
        "## Ratios (ours ÷ peer)",
        "",
        "Throughput ratio above 1 and latency and CPU ratios below 1 mean our server is faster. "
        "CPU is the server's and its database backends' together, per request.",
        "",
        "| operation | req/s vs PostGraphile | p50 vs PostGraphile | p99 vs PostGraphile | "
        "CPU/req vs PostGraphile | req/s vs N+1 | p50 vs N+1 | CPU/req vs N+1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for operation in operations:
        ours = medians.get((OURS, operation.name), {})
        peer = medians.get((PEER, operation.name), {})
        baseline = medians.get((N_PLUS_ONE, operation.name), {})
        lines.append(
            f"| {operation.name} | {_ratio(ours.get('rps'), peer.get('rps'))} | "
            f"{_ratio(ours.get('p50'), peer.get('p50'))} | {_ratio(ours.get('p99'), peer.get('p99'))} | "
            f"{_ratio(_cpu(ours), _cpu(peer))} | {_ratio(ours.get('rps'), baseline.get('rps'))} | "
            f"{_ratio(ours.get('p50'), baseline.get('p50'))} | {_ratio(_cpu(ours), _cpu(baseline))} |"
        )
    return lines


def _baseline_ratios(
    operations: tuple[Operation, ...],
    medians: dict[tuple[str, str], dict[str, float]],
    statements: dict[str, Any],
    context: dict[str, Any],
) -> list[str]:
    """Ours against the baseline commit, measured in the same rounds: the change's effect."""
    commit = context["baseline"]["commit"][:9]
    lines = [
        f"## Ratios (ours ÷ ours-before, the working tree against `{commit}`)",
        "",
        "Throughput ratio above 1 and latency and CPU ratios below 1 mean the change made the "
        "server faster. CPU is the server's and its database backends' together, per request.",
        "",
        "| operation | req/s | p50 | p99 | CPU/req | SQL/req before → after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for operation in operations:
        ours = medians.get((OURS, operation.name), {})
        before = medians.get((BASELINE, operation.name), {})
        lines.append(
            f"| {operation.name} | {_ratio(ours.get('rps'), before.get('rps'))} | "
            f"{_ratio(ours.get('p50'), before.get('p50'))} | {_ratio(ours.get('p99'), before.get('p99'))} | "
            f"{_ratio(_cpu(ours), _cpu(before))} | {_statements(statements, BASELINE, operation.name)} → "
            f"{_statements(statements, OURS, operation.name)} |"
        )
    return lines


def _results(
    servers: list[Server],
    operations: tuple[Operation, ...],
    medians: dict[tuple[str, str], dict[str, float]],
    statements: dict[str, Any],
    context: dict[str, Any],
) -> list[str]:
    lines = [
        "## Medians",
        "",
        "| operation | server | req/s | p50 ms | p99 ms | CPU ms/req | DB CPU ms/req | SQL/req (queries) "
        "| runs | bad |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for operation in operations:
        for server in servers:
            found = medians.get((server.name, operation.name))
            if found is None:
                continue
            lines.append(
                f"| {operation.name} | {server.name} | {found['rps']:.1f} | {found['p50']:.2f} | "
                f"{found['p99']:.2f} | {found['cpu']:.2f} | {found['db_cpu']:.2f} | "
                f"{_statements(statements, server.name, operation.name)} | "
                f"{found['runs']:.0f} | {found['bad']:.0f} |"
            )
    ran = {server.name for server in servers}
    if ran & {PEER, N_PLUS_ONE}:
        lines += ["", *_peer_ratios(operations, medians)]
    if BASELINE in ran:
        lines += ["", *_baseline_ratios(operations, medians, statements, context)]
    return lines


def _smoke(config: BenchConfig) -> list[str]:
    if not config.is_smoke:
        return []
    return [
        f"**Smoke run, not a measurement**: {config.seconds} s per operation after a {config.warmup} s "
        f"warm-up, {config.rounds} round(s), on a shared machine. It shows that every operation runs "
        "on every server it applies to and that the report is produced; its numbers are no result. "
        "A measurement is `make bench` with the defaults on a quiet machine.",
        "",
    ]


def _operations(operations: tuple[Operation, ...]) -> list[str]:
    lines = [
        "## Operations",
        "",
        "Operations marked *page* are what one page of the RealWorld frontend asks for, in one request.",
        "",
    ]
    for operation in operations:
        title = f"**{operation.name}**" + (" *page*" if operation.page else "")
        lines += [title, "", "```graphql", operation.query, "```", ""]
        if operation.peer_query and operation.peer_query != operation.query:
            lines += ["PostGraphile:", "", "```graphql", operation.peer_query, "```", ""]
    return lines


def _servers(config: BenchConfig, servers: list[Server], operations: tuple[Operation, ...]) -> str:
    """Who was measured, saying so when BENCH_SERVERS or BENCH_OPERATIONS narrowed the run."""
    line = "; ".join(f"{server.name}: {server.description}" for server in servers) + "."
    if config.servers is not None or config.operations is not None:
        line += (
            f" A narrowed run (BENCH_SERVERS={','.join(config.servers or ['all'])}, "
            f"{len(operations)} operation(s) measured)."
        )
    return line


def write_report(
    config: BenchConfig,
    servers: list[Server],
    operations: tuple[Operation, ...],
    context: dict[str, Any],
    medians: dict[tuple[str, str], dict[str, float]],
    statements: dict[str, Any],
    path: Path,
) -> None:
    versions = context["versions"]
    sizes = context["sizes"]
    lines = [
        "# Benchmark results" + (" — smoke run, not a measurement" if config.is_smoke else ""),
        "",
        *_smoke(config),
        "Conduit GraphQL (ours), the same server with DataLoader batching off (ours-n+1, the N+1 "
        "baseline), and PostGraphile 5, serving the same PostgreSQL database"
        + (", and this project at an earlier commit (ours-before)" if context.get("baseline") else "")
        + ". Produced by `make bench`.",
        "",
        "Servers: " + _servers(config, servers, operations),
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
        *_method(config, servers, operations, context),
        "",
        *_results(servers, operations, medians, statements, context),
        "",
        *_operations(operations),
    ]
    path.write_text("\n".join(lines))
