"""Benchmark settings shared by the generator, the check and the runner, all from the environment.

Defaults describe the documented run; the environment shortens it while the harness is developed
(e.g. `BENCH_SECONDS=2 BENCH_WARMUP=1 BENCH_ROUNDS=1`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
PEER_DIR = BENCH_DIR / "peers" / "postgraphile"

# The one account the runner signs in with; its password is hashed once with Argon2.
BENCH_USERNAME = "bencher"
BENCH_EMAIL = "bencher@example.com"
BENCH_PASSWORD = "bench-password-0123"

# The documented run; a shorter one is a smoke run, and its report says so.
SECONDS, WARMUP, ROUNDS = 15, 5, 2

# A production-mode secret: the server refuses to start with the development one.
SECRET_KEY = "benchmark-only-key-not-for-real-use-7f3c9a1e5b8d2f6a4c0e"


@dataclass(frozen=True, slots=True)
class Sizes:
    """The row counts of the data set; `make bench` regenerates when the database differs."""

    users: int = 5_000
    articles: int = 50_000
    tags: int = 200
    comments: int = 250_000
    favorites: int = 200_000
    follows: int = 50_000


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Where the database is and how long and hard to measure."""

    pg_host: str
    pg_port: int
    pg_user: str
    database: str
    seconds: int
    warmup: int
    rounds: int
    connections: int

    @classmethod
    def from_env(cls) -> BenchConfig:
        return cls(
            pg_host=os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            pg_port=int(os.environ.get("BENCH_PG_PORT", "5432")),
            pg_user=os.environ.get("BENCH_PG_USER", "postgres"),
            database=os.environ.get("BENCH_DATABASE", "conduit_bench"),
            seconds=int(os.environ.get("BENCH_SECONDS", str(SECONDS))),
            warmup=int(os.environ.get("BENCH_WARMUP", str(WARMUP))),
            rounds=max(1, int(os.environ.get("BENCH_ROUNDS", str(ROUNDS)))),
            connections=int(os.environ.get("BENCH_CONNECTIONS", "16")),
        )

    @property
    def is_smoke(self) -> bool:
        """Shorter than the documented run: it shows the harness works end to end, but its
        numbers (a few seconds, one round) are no measurement."""
        return self.seconds < SECONDS or self.warmup < WARMUP or self.rounds < ROUNDS

    def dsn(self, database: str | None = None) -> str:
        """A libpq-style URL, as asyncpg and node-postgres take it."""
        return f"postgresql://{self.pg_user}@{self.pg_host}:{self.pg_port}/{database or self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        """The URL our server and the project's migrations take."""
        return f"postgresql+asyncpg://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.database}"
