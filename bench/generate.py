"""The benchmark data set: deterministic (fixed seed), loaded with COPY into a migrated database.

Usage: `python -m bench.generate [--if-needed]`. With `--if-needed` nothing happens when the
database already holds exactly the expected rows, so `make bench` only pays for loading once.

The shape is chosen so that the operations measure something: the newest articles (the ones
every page reads) carry the most comments and favorites, `created_at` order differs slightly from
id order (so a server that sorted by id would be caught by the check), and the signed-in bench
user follows the authors of the newest articles and favorites some of them, so `following` and
`favorited` are not all false.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from argon2 import PasswordHasher

from bench.config import BENCH_EMAIL, BENCH_PASSWORD, BENCH_USERNAME, PEER_DIR, BenchConfig, Sizes
from db.migrate import upgrade
from db.rules import key
from db.settings import Settings

SEED = 20261123
USERS_START = datetime(2022, 1, 1, tzinfo=UTC)
ARTICLES_START = datetime(2023, 1, 1, tzinfo=UTC)
_VOCABULARY = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate "
    "velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident "
    "sunt culpa qui officia deserunt mollit anim id est laborum graph query schema resolver "
    "loader cursor batch async python postgres index keyset latency throughput kernel socket "
    "buffer cache river mountain harbor lantern meadow copper violet "
)
WORDS = _VOCABULARY.split()
# Tables in load order (parents first) and the columns COPY writes.
COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "username",
        "username_key",
        "email",
        "email_key",
        "password_hash",
        "bio",
        "image",
        "created_at",
        "updated_at",
    ),
    "tags": ("id", "name"),
    "articles": ("id", "slug", "title", "description", "body", "author_id", "created_at", "updated_at"),
    "article_tags": ("article_id", "tag_id", "position"),
    "comments": ("id", "body", "article_id", "author_id", "created_at", "updated_at"),
    "favorites": ("user_id", "article_id", "created_at"),
    "follows": ("follower_id", "followee_id", "created_at"),
}
SERIAL_TABLES = ("users", "tags", "articles", "comments")


@dataclass
class DataSet:
    """Every row, as tuples in `COLUMNS` order."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def count(self, table: str) -> int:
        return len(self.rows[table])


def sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def body(rng: random.Random, size: int = 1024) -> str:
    """About `size` characters of paragraphs, so article rows weigh what real ones do."""
    parts: list[str] = []
    length = 0
    while length < size:
        paragraph = " ".join(sentence(rng, 8, 18) for _ in range(4))
        parts.append(paragraph)
        length += len(paragraph) + 2
    return "\n\n".join(parts)[:size]


def skewed_id(rng: random.Random, count: int) -> int:
    """An id in 1..count, strongly favouring the highest (newest) ones, as real traffic does."""
    return count - int(count * rng.random() ** 2)


def timestamp(start: datetime, step_seconds: int, index: int, rng: random.Random) -> datetime:
    """`index` steps after `start` plus a jitter of up to two steps: mostly, not strictly, id order."""
    jitter = rng.randint(0, 2 * step_seconds - 1)
    return start + timedelta(seconds=index * step_seconds + jitter, microseconds=rng.randint(0, 999_999))


def users(rng: random.Random, sizes: Sizes, password_hash: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for user_id in range(1, sizes.users + 1):
        if user_id == 1:
            username, email = BENCH_USERNAME, BENCH_EMAIL
        else:
            username = f"{rng.choice(WORDS).capitalize()}Writer{user_id:05d}"
            email = f"{username.lower()}@example.com"
        bio = sentence(rng, 5, 20) if rng.random() < 0.6 else None
        image = f"https://images.example.com/users/{user_id}.jpg" if rng.random() < 0.5 else None
        created = timestamp(USERS_START, 3600, user_id, rng)
        rows.append(
            (user_id, username, key(username), email, key(email), password_hash, bio, image, created, created)
        )
    return rows


def tags(rng: random.Random, sizes: Sizes) -> list[tuple[Any, ...]]:
    names: list[str] = []
    for attempt in range(sizes.tags * 50):
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}" if attempt % 4 else rng.choice(WORDS)
        if name not in names:
            names.append(name)
        if len(names) == sizes.tags:
            break
    while len(names) < sizes.tags:  # only if the vocabulary were too small
        names.append(f"tag-{len(names)}")
    return [(tag_id, name) for tag_id, name in enumerate(names, start=1)]


def articles(rng: random.Random, sizes: Sizes) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for article_id in range(1, sizes.articles + 1):
        words = rng.choices(WORDS, k=rng.randint(3, 8))
        title = " ".join(words).capitalize()
        slug = "-".join(words) + f"-{article_id}"
        created = timestamp(ARTICLES_START, 600, article_id, rng)
        rows.append(
            (
                article_id,
                slug,
                title,
                sentence(rng, 8, 16),
                body(rng),
                rng.randint(1, sizes.users),
                created,
                created,
            )
        )
    return rows


def article_tags(rng: random.Random, sizes: Sizes) -> list[tuple[Any, ...]]:
    """About three tags per article, popular tags (low ids) picked more often, in a kept order."""
    weights = [1.0 / rank for rank in range(1, sizes.tags + 1)]
    cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
    rows: list[tuple[Any, ...]] = []
    for article_id in range(1, sizes.articles + 1):
        wanted = rng.choice((2, 3, 3, 4))
        chosen: list[int] = []
        for _ in range(wanted * 10):
            tag_id = rng.choices(range(1, sizes.tags + 1), cum_weights=cumulative)[0]
            if tag_id not in chosen:
                chosen.append(tag_id)
            if len(chosen) == wanted:
                break
        rows.extend((article_id, tag_id, position) for position, tag_id in enumerate(chosen))
    return rows


def comments(rng: random.Random, sizes: Sizes, created: Sequence[datetime]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for comment_id in range(1, sizes.comments + 1):
        article_id = skewed_id(rng, sizes.articles)
        at = created[article_id] + timedelta(
            seconds=rng.randint(60, 30 * 86400), microseconds=rng.randint(0, 999_999)
        )
        author_id = rng.randint(1, sizes.users)
        rows.append((comment_id, sentence(rng, 6, 40), article_id, author_id, at, at))
    return rows


def unique_pairs(
    rng: random.Random, count: int, seed_pairs: Iterator[tuple[int, int]], draw: Any
) -> list[tuple[int, int]]:
    """`count` distinct pairs: the given ones first, then random draws (bounded attempts)."""
    pairs: dict[tuple[int, int], None] = dict.fromkeys(seed_pairs)
    for _ in range(count * 20):
        if len(pairs) >= count:
            break
        pair = draw()
        if pair[0] != pair[1]:
            pairs.setdefault(pair)
    return list(pairs)[:count]


def favorites(rng: random.Random, sizes: Sizes, created: Sequence[datetime]) -> list[tuple[Any, ...]]:
    """Random favorites, plus the bench user's favorites of every third of the 60 newest articles."""
    own = ((1, article_id) for article_id in range(sizes.articles, sizes.articles - 60, -3))
    pairs = unique_pairs(
        rng,
        sizes.favorites,
        own,
        lambda: (rng.randint(1, sizes.users), skewed_id(rng, sizes.articles)),
    )
    return [
        (user_id, article_id, created[article_id] + timedelta(seconds=rng.randint(60, 90 * 86400)))
        for user_id, article_id in pairs
    ]


def follows(rng: random.Random, sizes: Sizes, authors: Sequence[int]) -> list[tuple[Any, ...]]:
    """Random follows, plus the bench user following the authors of the 10 newest articles."""
    own = ((1, author) for author in authors[-10:] if author != 1)
    pairs = unique_pairs(
        rng,
        sizes.follows,
        own,
        lambda: (rng.randint(1, sizes.users), rng.randint(1, sizes.users)),
    )
    start = datetime(2024, 6, 1, tzinfo=UTC)
    return [
        (follower, followee, start + timedelta(seconds=rng.randint(0, 180 * 86400)))
        for follower, followee in pairs
    ]


def build(sizes: Sizes) -> DataSet:
    """Every row of the data set; the same seed always gives the same rows."""
    rng = random.Random(SEED)
    settings_fields = Settings.model_fields
    hasher = PasswordHasher(
        time_cost=settings_fields["argon2_time_cost"].default,
        memory_cost=settings_fields["argon2_memory_cost_kib"].default,
    )
    # One real Argon2 hash, shared by every user: hashing 5,000 would take minutes.
    password_hash = hasher.hash(BENCH_PASSWORD, salt=b"conduit-bench-salt")
    data = DataSet()
    data.rows["users"] = users(rng, sizes, password_hash)
    data.rows["tags"] = tags(rng, sizes)
    data.rows["articles"] = articles(rng, sizes)
    created = [ARTICLES_START, *(row[6] for row in data.rows["articles"])]
    authors = [row[5] for row in data.rows["articles"]]
    data.rows["article_tags"] = article_tags(rng, sizes)
    data.rows["comments"] = comments(rng, sizes, created)
    data.rows["favorites"] = favorites(rng, sizes, created)
    data.rows["follows"] = follows(rng, sizes, authors)
    return data


async def ensure_database(config: BenchConfig) -> None:
    """Create the benchmark database when missing (trust auth on 127.0.0.1 is assumed)."""
    connection = await asyncpg.connect(config.dsn("postgres"))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", config.database)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{config.database}"')
    finally:
        await connection.close()


async def row_counts(config: BenchConfig) -> dict[str, int]:
    connection = await asyncpg.connect(config.dsn())
    try:
        return {table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in COLUMNS}
    finally:
        await connection.close()


def expected_counts(sizes: Sizes) -> dict[str, int | None]:
    """The exact counts; article_tags varies with the draws, so it is only required non-empty."""
    return {
        "users": sizes.users,
        "tags": sizes.tags,
        "articles": sizes.articles,
        "article_tags": None,
        "comments": sizes.comments,
        "favorites": sizes.favorites,
        "follows": sizes.follows,
    }


def is_loaded(counts: dict[str, int], sizes: Sizes) -> bool:
    return all(
        counts[table] == expected if expected is not None else counts[table] > 0
        for table, expected in expected_counts(sizes).items()
    )


async def load(config: BenchConfig, data: DataSet) -> None:
    """Empty the tables, COPY every row in, move the sequences past the ids, and analyze."""
    connection = await asyncpg.connect(config.dsn())
    try:
        async with connection.transaction():
            await connection.execute(f"TRUNCATE {', '.join(COLUMNS)} RESTART IDENTITY CASCADE")
            for table, columns in COLUMNS.items():
                await connection.copy_records_to_table(table, records=data.rows[table], columns=columns)
            for table in SERIAL_TABLES:
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
        # Outside the transaction: VACUUM sets the visibility map, so index-only scans work at once.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def install_peer_queries(config: BenchConfig) -> None:
    """PostGraphile's custom queries (bench/peers/postgraphile/custom_queries.sql), in their own
    schema; run every time, since it is cheap and idempotent and the file may have changed."""
    connection = await asyncpg.connect(config.dsn())
    try:
        await connection.execute((PEER_DIR / "custom_queries.sql").read_text())
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate and load the benchmark data set.")
    parser.add_argument("--if-needed", action="store_true", help="skip when the rows are already there")
    arguments = parser.parse_args(argv)
    config, sizes = BenchConfig.from_env(), Sizes()
    started = time.perf_counter()
    asyncio.run(ensure_database(config))
    upgrade(config.sqlalchemy_url)
    asyncio.run(install_peer_queries(config))
    if arguments.if_needed and is_loaded(asyncio.run(row_counts(config)), sizes):
        print(f"bench: {config.database} already holds the data set")
        return
    data = build(sizes)
    built = time.perf_counter()
    asyncio.run(load(config, data))
    counts = asyncio.run(row_counts(config))
    print(
        f"bench: generated in {built - started:.1f}s, loaded in {time.perf_counter() - built:.1f}s: "
        + ", ".join(f"{table} {count}" for table, count in counts.items())
    )
    if not is_loaded(counts, sizes):
        sys.exit("bench: the loaded row counts differ from the expected ones")


if __name__ == "__main__":
    main()
