"""All configuration, read once from the environment (and an optional `.env`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "development-secret-key-change-me-0123456789"

# What production refuses as SECRET_KEY: a key anyone could guess signs anyone's tokens. Keys
# copied from a template or a README contain one of these words, or are one character repeated.
MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 8
PLACEHOLDER_WORDS = (
    "change-me", "changeme", "change_me", "secret", "example", "placeholder", "password",
    "default", "dummy", "sample", "replace",
)  # fmt: skip


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot sign production tokens, or None when it looks like a random value."""
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"at least {MIN_SECRET_KEY_LENGTH} characters"
    lowered = key.lower()
    word = next((word for word in PLACEHOLDER_WORDS if word in lowered), None)
    if word is not None:
        return f"a private random value, not a placeholder (it contains {word!r})"
    if len(set(key)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return f"a random value with at least {MIN_SECRET_KEY_DISTINCT_CHARACTERS} distinct characters"
    return None


class Settings(BaseSettings):
    """Every setting of the service; environment variables use the upper-case field name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./conduit.db"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    token_ttl_seconds: int = Field(default=60 * 60 * 24 * 7, gt=0)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Observability (README "Observability"): JSON lines on stderr, or key=value text for people.
    log_format: Literal["json", "console"] = "json"
    metrics_enabled: bool = True
    # Distinct operation names that label metrics; names seen after these count as "(other)".
    metrics_max_operation_names: int = Field(default=200, ge=0)
    # Where the workers of `conduit serve --workers N` share their metrics (prometheus-client's
    # multiprocess mode, graph/telemetry/multiprocess.py): set by `conduit serve` to a temporary
    # directory when N > 1; set it yourself to choose the directory (it is emptied at start).
    prometheus_multiproc_dir: str | None = None
    # OpenTelemetry tracing (the `otel` extra); OTEL_SERVICE_NAME is the standard variable.
    otel_enabled: bool = False
    otel_service_name: str = "conduit-graphql"

    # Connections each process keeps open. Overflow connections are opened for one checkout and
    # closed on return while the pool is full: under a steady load above the pool size that is a
    # PostgreSQL backend forked per request, which cost 60% of the throughput of a small query at
    # 16 concurrent requests on a pool of 10 + 10. So the whole budget is kept open by default.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, ge=0)
    # Opening a PostgreSQL connection. With the statement timeout (which the driver also
    # enforces on its side, plus a second, for a server that vanished and can enforce
    # nothing), it bounds how long a request waits on a database that stopped answering.
    db_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    # The whole of one HTTP request, however many statements it runs (graph/transport/deadline.py).
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    # On SIGTERM `conduit serve` stops accepting, lets requests in flight finish for this long
    # (then cancels them), and closes WebSockets with 1012, which clients reconnect on. Below
    # Kubernetes' default 30 s grace period, so that the shutdown ends before a SIGKILL.
    shutdown_timeout_seconds: int = Field(default=25, gt=0)

    graphiql: bool | None = None
    introspection: bool | None = None

    # Operation limits (graph/execution/limits.py), checked before anything executes.
    max_query_depth: int = Field(default=15, ge=1)
    max_query_aliases: int = Field(default=30, ge=0)
    max_query_tokens: int = Field(default=2000, ge=1)
    # Estimated rows: the product of page sizes along each path, summed over every list.
    max_query_cost: int = Field(default=10_000, ge=1)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How deeply a request's `variables` (and `extensions`) may nest arrays and objects.
    max_variables_depth: int = Field(default=32, ge=1)

    # Off only for the benchmark's N+1 baseline: every load then runs its own statement.
    dataloader_batching: bool = True

    # Login throttling (db/throttle.py): token buckets holding this many attempts, refilled
    # evenly over the window. Failed logins count per account (the normalised email), every login
    # per client address. On PostgreSQL the buckets are a table every server process shares
    # (db/login_attempts.py); on SQLite they are in memory, at most `max_keys` per kind.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_account_window_seconds: float = Field(default=300.0, gt=0)
    login_attempts_per_address: int = Field(default=30, ge=1)
    login_address_window_seconds: float = Field(default=60.0, gt=0)
    login_throttle_max_keys: int = Field(default=100_000, ge=1)

    # Idempotent retries (graph/idempotency.py): how long a mutation's stored response answers
    # a retry with its Idempotency-Key; older keys are purged and run again.
    idempotency_ttl_seconds: int = Field(default=60 * 60 * 24, gt=0)

    # Persisted documents (graph/persisted.py). Registered by clients (automatic persisted
    # queries): at most this many in the database, the least recently used evicted first.
    persisted_queries_max: int = Field(default=10_000, ge=1)
    # Cache-Control of a GET answered from a known hash without errors and without an
    # Authorization header (e.g. "public, max-age=300"); empty sends none.
    persisted_query_cache_control: str = ""
    # A GraphQL Code Generator or Relay manifest ({id: document}) every process trusts.
    trusted_documents_file: Path | None = None
    # Run only trusted documents: any other text or id is refused before it is parsed.
    trusted_documents_only: bool = False

    # Answers of at least this many bytes are compressed (gzip, or brotli where offered) when
    # the client accepts it (graph/transport/compression.py); 0 compresses nothing.
    compression_minimum_size: int = Field(default=1024, ge=0)

    # Scaling out (README "Scaling out"). `transaction`: DATABASE_URL is a transaction pooler
    # (PgBouncer's pool_mode = transaction): no named prepared statements and no startup
    # parameters; the LISTEN connection of subscriptions needs DATABASE_LISTEN_URL, direct.
    database_pooler: Literal["none", "transaction"] = "none"
    database_listen_url: str | None = None
    # Streaming replicas that queries read from, comma-separated; a failed one is skipped for
    # the cooldown. A viewer's writes are read from the primary until the replicas replayed
    # them, known from the Conduit-Write-Position header the client sends back, or for the
    # grace period after a write from this process (kept in its memory).
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    database_replica_cooldown_seconds: float = Field(default=5.0, gt=0)
    database_replica_grace_seconds: float = Field(default=10.0, ge=0)
    # A mutation operation that fails on a serialization failure or a deadlock (SQLSTATE
    # 40001, 40P01) runs again, this many times at most, before anything is sent.
    db_serialization_retries: int = Field(default=3, ge=0)

    # Argon2 cost; lowered only by the test suite, where hashing dominates the run time.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_cost_kib: int = Field(default=19 * 1024, ge=64)

    # WebSocket subscriptions (graphql-transport-ws and graphql-ws on /graphql).
    ws_connection_init_timeout_seconds: float = Field(default=10.0, gt=0)
    ws_max_subscriptions_per_connection: int = Field(default=20, ge=1)
    # Pages on other origins allowed to open a WebSocket ("*" for any); comma-separated in
    # the environment. Clients without an Origin header and same-origin pages always may.
    ws_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Server-Sent Events (graphql-sse on /graphql/stream, graph/transport/sse.py): a comment is
    # written to a stream that has been idle this long, so proxies and clients keep it open.
    # The WS_* settings above hold for event streams too (see README "Subscriptions").
    sse_keepalive_seconds: float = Field(default=12.0, gt=0)

    @field_validator("ws_allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _replica_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    # Pages on other origins whose scripts may call /graphql ("*", the default, for any);
    # comma-separated in the environment, empty for none. Safe open: tokens travel in the
    # Authorization header, never in cookies (README "Security").
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        """Comma-separated, as a browser serializes an origin: lower case, no trailing slash."""
        if isinstance(value, str):
            return [origin.strip().rstrip("/").lower() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        problem = secret_key_problem(self.secret_key) if self.environment == "production" else None
        if problem is not None:
            raise ValueError(
                f"SECRET_KEY must be {problem} when ENVIRONMENT=production; make one with "
                "`python3 -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return self

    @model_validator(mode="after")
    def _scaling_needs_postgresql(self) -> Settings:
        """A pooler or replicas are PostgreSQL's; through a transaction pooler LISTEN never
        hears a NOTIFY (the next transaction runs on another server connection), so
        subscriptions would wait forever: refuse to start instead."""
        if self.is_sqlite and (self.database_pooler != "none" or self.database_replica_urls):
            raise ValueError("DATABASE_POOLER and DATABASE_REPLICA_URLS need a PostgreSQL DATABASE_URL")
        if self.database_pooler == "transaction" and not self.database_listen_url:
            raise ValueError(
                "DATABASE_POOLER=transaction needs DATABASE_LISTEN_URL: a direct URL to PostgreSQL "
                "(not through the pooler) for the LISTEN connection of subscriptions"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def graphiql_enabled(self) -> bool:
        return self.environment != "production" if self.graphiql is None else self.graphiql

    @cached_property
    def introspection_enabled(self) -> bool:
        if self.introspection is None:
            return self.environment != "production"
        return self.introspection
