"""Before measuring: every server must return the same data for the compared operations.

A benchmark of servers that disagree measures nothing, so `make bench` runs this first and stops
when our server, its N+1 baseline and PostGraphile differ on feed, deep or one.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import asyncpg
import httpx

from bench.config import BenchConfig
from bench.operations import NORMALISERS, OPERATIONS
from bench.servers import all_servers, post, running

# What a correct answer must at least contain, so that "both empty" cannot pass.
EXPECTED_SIZES = {"feed": 20, "deep": 50, "one": 20}


async def pick_slugs(config: BenchConfig) -> tuple[str, str]:
    """The article `one` reads (the lowest id with at least 25 comments) and the one writes go to."""
    connection = await asyncpg.connect(config.dsn())
    try:
        read = await connection.fetchval(
            "SELECT a.slug FROM articles a JOIN comments c ON c.article_id = a.id"
            " GROUP BY a.id HAVING count(*) >= 25 ORDER BY a.id LIMIT 1"
        )
        write = await connection.fetchval("SELECT slug FROM articles ORDER BY id LIMIT 1")
    finally:
        await connection.close()
    return str(read), str(write)


def answers(url: str, *, peer: bool, slug: str) -> dict[str, Any]:
    """The normalised answer of each compared operation from one server."""
    found: dict[str, Any] = {}
    with httpx.Client(timeout=30.0) as client:
        for operation in OPERATIONS:
            if operation.name not in NORMALISERS:
                continue
            query = operation.peer_query if peer else operation.query
            assert query is not None
            data = post(client, url, query, operation.variables(slug, slug))
            found[operation.name] = NORMALISERS[operation.name][1 if peer else 0](data)
    return found


def size(value: Any) -> int:
    return len(value["comments"]) if isinstance(value, dict) else len(value)


def compare(reference: dict[str, Any], other: dict[str, Any], name: str) -> list[str]:
    problems = []
    for operation, expected in reference.items():
        if other[operation] != expected:
            problems.append(f"{name} differs from ours on {operation}")
        if size(expected) < EXPECTED_SIZES[operation]:
            problems.append(f"ours returned only {size(expected)} items for {operation}")
    return problems


def check(config: BenchConfig, slug: str) -> list[str]:
    """Start each server in turn (unpinned: this is not a measurement) and compare the answers."""
    results: dict[str, dict[str, Any]] = {}
    for server in all_servers(config):
        with running(server, cpu=None):
            results[server.name] = answers(server.url, peer=not server.is_ours, slug=slug)
    reference = results.pop("ours")
    problems = [p for name, other in results.items() for p in compare(reference, other, name)]
    if problems:
        for name, other in results.items():
            for operation, value in other.items():
                if value != reference[operation]:
                    print(f"--- ours {operation}:\n{json.dumps(reference[operation])[:2000]}")
                    print(f"--- {name} {operation}:\n{json.dumps(value)[:2000]}")
    return problems


def main() -> None:
    import asyncio

    config = BenchConfig.from_env()
    slug, _ = asyncio.run(pick_slugs(config))
    problems = check(config, slug)
    if problems:
        sys.exit("bench: the servers disagree:\n  " + "\n  ".join(problems))
    print("bench: ours, ours-n+1 and postgraphile return the same data for " + ", ".join(NORMALISERS))


if __name__ == "__main__":
    main()
