"""Benchmark settings shared by the generator, the check and the runner, all from the environment.

Defaults describe the documented run; the environment shortens it while the harness is developed
(e.g. `BENCH_SECONDS=2 BENCH_WARMUP=1 BENCH_ROUNDS=1`). BENCH_SERVERS and BENCH_OPERATIONS (comma
lists of names) narrow what is measured, and BENCH_BASELINE=<git commit> adds that commit of this
project as the server `ours-before`, so a change is measured before and after in one run.
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

# Every server the bench knows, in the order a round starts them: the baseline next to ours, so
# the two compared most closely are measured closest together in time.
OURS, BASELINE, PEER, N_PLUS_ONE = "ours", "ours-before", "postgraphile", "ours-n+1"
SERVER_NAMES = (OURS, BASELINE, PEER, N_PLUS_ONE)


class Refused(SystemExit):
    """A setting the bench cannot honour: the run stops with this message, not a traceback,
    since it is the person's setting to fix, not a bug."""


def _names(variable: str) -> tuple[str, ...] | None:
    """A comma list from the environment; None when unset or empty (then: everything)."""
    names = tuple(name.strip() for name in os.environ.get(variable, "").split(",") if name.strip())
    return names or None


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
    baseline: str | None = None  # a git commit of this project, run as `ours-before`
    servers: tuple[str, ...] | None = None  # None: every server that applies
    operations: tuple[str, ...] | None = None  # None: every operation

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
            baseline=os.environ.get("BENCH_BASELINE", "").strip() or None,
            servers=_names("BENCH_SERVERS"),
            operations=_names("BENCH_OPERATIONS"),
        )._checked()

    def _checked(self) -> BenchConfig:
        """Refuse a server selection that cannot be run: every comparison is against ours, and
        `ours-before` exists only with a baseline commit (and a baseline left out of an explicit
        list would be checked out for nothing)."""
        if self.servers is None:
            return self
        unknown = [name for name in self.servers if name not in SERVER_NAMES]
        if unknown:
            raise Refused(
                f"bench: BENCH_SERVERS names unknown servers {unknown}; known: {', '.join(SERVER_NAMES)}"
            )
        if OURS not in self.servers:
            raise Refused(f"bench: BENCH_SERVERS must include {OURS!r}: every other server is compared to it")
        if BASELINE in self.servers and self.baseline is None:
            raise Refused(
                f"bench: BENCH_SERVERS names {BASELINE!r} but BENCH_BASELINE (a git commit) is not set"
            )
        if self.baseline is not None and BASELINE not in self.servers:
            raise Refused(f"bench: BENCH_BASELINE is set but BENCH_SERVERS leaves out {BASELINE!r}")
        return self

    def runs(self, server: str) -> bool:
        """Whether this run measures the server of that name."""
        if server == BASELINE and self.baseline is None:
            return False
        return self.servers is None or server in self.servers

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
