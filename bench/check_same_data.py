"""Before measuring: every server must return the same data for the compared operations.

A benchmark of servers that disagree measures nothing, so `make bench` runs this first and stops
when our server, its N+1 baseline and PostGraphile differ on any operation PostGraphile has a
twin for (the answers normalised, `bench/operations.py`). Our other servers (ours-n+1, and the
baseline commit ours-before) must also give identical answers to every read, signed in or not,
since they run the same operations. The baseline exists only inside `bench/run.py`'s temporary
worktree, so `bench/run.py` runs its check (`check_baseline`) before it measures.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import asyncpg
import httpx

from bench.config import BASELINE, BENCH_EMAIL, BENCH_PASSWORD, OURS, BenchConfig, Refused
from bench.operations import LOGIN, NORMALISERS, OPERATIONS, Targets
from bench.servers import Server, all_servers, post, running

# What a correct answer must at least contain, so that "both empty" cannot pass.
EXPECTED_SIZES = {
    "feed": 20,
    "deep": 50,
    "one": 20,
    "home": 10,
    "tag feed": 10,
    "article": 20,
    "profile articles": 10,
    "profile favorites": 10,
}


async def pick_targets(config: BenchConfig) -> Targets:
    """The rows the pages read, the same on every run of the same data set.

    The article is the lowest id with at least 25 comments (a full page of 20); the tag the most
    used one; the profile the lowest id with at least 10 articles, 10 favorites and a follower
    (full tabs). Writes go to the lowest article id.
    """
    connection = await asyncpg.connect(config.dsn())
    try:
        read = await connection.fetchval(
            "SELECT a.slug FROM articles a JOIN comments c ON c.article_id = a.id"
            " GROUP BY a.id HAVING count(*) >= 25 ORDER BY a.id LIMIT 1"
        )
        write = await connection.fetchval("SELECT slug FROM articles ORDER BY id LIMIT 1")
        tag = await connection.fetchval(
            "SELECT t.name FROM tags t JOIN article_tags l ON l.tag_id = t.id"
            " GROUP BY t.id ORDER BY count(*) DESC, t.id LIMIT 1"
        )
        profile = await connection.fetchrow(
            "SELECT u.username, u.username_key FROM users u"
            " WHERE (SELECT count(*) FROM articles a WHERE a.author_id = u.id) >= 10"
            " AND (SELECT count(*) FROM favorites f WHERE f.user_id = u.id) >= 10"
            " AND EXISTS (SELECT 1 FROM follows f WHERE f.followee_id = u.id)"
            " ORDER BY u.id LIMIT 1"
        )
    finally:
        await connection.close()
    return Targets(str(read), str(write), str(tag), profile["username"], profile["username_key"])


def sign_in(client: httpx.Client, url: str) -> str:
    """The bench user's token (user 1 of the data set, `bench/generate.py`), from our `login`."""
    data = post(client, url, LOGIN, {"input": {"email": BENCH_EMAIL, "password": BENCH_PASSWORD}})
    token = data["login"]["token"]
    if not token:
        raise RuntimeError(f"login failed: {data['login']['errors']}")
    return str(token)


def answers(server: Server, targets: Targets) -> dict[str, Any]:
    """The normalised answer of each compared operation from one server; from ours also the
    whole answer of every read (keyed by the operation's name)."""
    peer = not server.is_ours
    found: dict[str, Any] = {}
    with httpx.Client(timeout=30.0) as client:
        token = None if peer else sign_in(client, server.url)
        for operation in OPERATIONS:
            if operation.name in NORMALISERS:
                query = operation.peer_query if peer else operation.query
                assert query is not None
                data = post(client, server.url, query, operation.variables(targets, peer=peer))
                found[operation.name] = NORMALISERS[operation.name][1 if peer else 0](data)
            if not peer and not operation.write:
                variables = operation.variables(targets)
                found[f"whole {operation.name}"] = post(
                    client, server.url, operation.query, variables, token if operation.signed_in else None
                )
    return found


def size(value: Any) -> int:
    """How many items a normalised answer lists: the shortest of its lists, or itself."""
    if isinstance(value, dict):
        return min(len(value[key]) for key in ("comments", "articles", "tags") if key in value)
    return len(value)


def compare(reference: dict[str, Any], other: dict[str, Any], name: str) -> list[str]:
    problems = []
    for operation, value in other.items():
        if value != reference[operation]:
            problems.append(f"{name} differs from ours on {operation}")
    for operation, expected in EXPECTED_SIZES.items():
        if size(reference[operation]) < expected:
            problems.append(f"ours returned only {size(reference[operation])} items for {operation}")
    return problems


def check(config: BenchConfig, targets: Targets, servers: list[Server] | None = None) -> list[str]:
    """Start each server in turn (unpinned: this is not a measurement) and compare the answers
    of each to ours' (every operation, whatever BENCH_OPERATIONS measures: it costs one request)."""
    results: dict[str, dict[str, Any]] = {}
    for server in all_servers(config) if servers is None else servers:
        with running(server, cpu=None):
            results[server.name] = answers(server, targets)
    reference = results.pop(OURS)
    problems = [p for name, other in results.items() for p in compare(reference, other, name)]
    if problems:
        for name, other in results.items():
            for operation, value in other.items():
                if value != reference[operation]:
                    print(f"--- ours {operation}:\n{json.dumps(reference[operation])[:2000]}")
                    print(f"--- {name} {operation}:\n{json.dumps(value)[:2000]}")
    return problems


def check_baseline(config: BenchConfig, targets: Targets, servers: list[Server]) -> None:
    """Refuse to measure a baseline that answers differently from ours: a before/after of two
    servers doing different work measures the difference in work, not in speed."""
    compared = [server for server in servers if server.name in (OURS, BASELINE)]
    problems = check(config, targets, compared)
    if problems:
        raise Refused(
            f"bench: {BASELINE} does not give ours' answers, so the two cannot be compared:\n  "
            + "\n  ".join(problems)
        )
    print(f"bench: {BASELINE} gives the same answer as ours to every read", flush=True)


def main() -> None:
    import asyncio

    config = BenchConfig.from_env()
    targets = asyncio.run(pick_targets(config))
    servers = all_servers(config)
    problems = check(config, targets, servers)
    if problems:
        sys.exit("bench: the servers disagree:\n  " + "\n  ".join(problems))
    others = [server.name for server in servers if server.name != OURS]
    print(
        (
            f"bench: {', '.join(others)} {'return' if len(others) > 1 else 'returns'} ours' data for "
            + ", ".join(NORMALISERS)
            + " "
            "(our servers the same answer to every read)"
            if others
            else "bench: ours returns full answers (no other server selected to compare with)"
        )
        + (f"; {BASELINE} is checked by bench.run in its worktree" if config.baseline else "")
    )


if __name__ == "__main__":
    main()
