"""Every table of the service, in one module so that Alembic's autogenerate sees them all.

Relationships are deliberately absent: every relation is read through a DataLoader, so
implicit lazy loading (which would be I/O hidden in attribute access) cannot happen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every engine.

    SQLite keeps no offset, so values are normalised to UTC on the way in and marked UTC on
    the way out; microseconds survive on both engines, which `expectedUpdatedAt` relies on.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """None with asyncpg, which reads `timestamptz` as aware UTC datetimes already: no
        Python call per value, which a page of 500 comments would make a thousand times."""
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """An account. `username_key`/`email_key` hold the NFKC-casefolded forms that uniqueness uses."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> followee_id", name="not_self"),
        Index(None, "followee_id", "follower_id"),
    )

    follower_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    followee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "author_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(320), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class ArticleSlug(Base):
    """Every slug an article has had, its current one included (db/articles.py).

    A slug stays its article's after a rename, so a write naming an old slug with the version
    it read is told exactly that the article changed (`CONFLICT`), and a slug that never
    existed is `NOT_FOUND`; no later article takes it over. Deleting the article frees them.
    """

    __tablename__ = "article_slugs"
    __table_args__ = (Index(None, "article_id"),)

    slug: Mapped[str] = mapped_column(String(320), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class ArticleTag(Base):
    """A tag on an article; `position` keeps the order the author gave."""

    __tablename__ = "article_tags"
    __table_args__ = (
        UniqueConstraint("article_id", "position"),
        Index(None, "tag_id", "article_id"),
    )

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class Favorite(Base):
    __tablename__ = "favorites"
    __table_args__ = (
        Index(None, "article_id", "user_id"),
        Index(None, "user_id", "created_at", "article_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        Index(None, "article_id", "created_at", "id"),
        Index(None, "author_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class IdempotencyKey(Base):
    """A mutation request's `Idempotency-Key` and the response it got (graph/idempotency.py).

    Written in the mutation's own transaction, so the key, the writes and the stored response
    commit together or not at all. `scope` is whose key it is (`user:<id>` or `anonymous`);
    `body` is NULL when the response carried a sign-in token, which is never stored.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"), Index(None, "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


class PersistedDocument(Base):
    """A GraphQL document that clients name by its id instead of sending its text.

    `id` is what a client sends: the SHA-256 of the text (Apollo's automatic persisted
    queries, GraphQL Code Generator's manifest) or a manifest's own id (Relay's). `sha256` is
    always the text's, so that a full text can be checked against the trusted ones. `trusted`
    rows come from a manifest (`conduit trusted-documents load`) and are never evicted; the
    others were registered by clients, at most PERSISTED_QUERIES_MAX of them, the least
    recently used evicted first (`used_at`, refreshed at most hourly: db/persisted.py).
    """

    __tablename__ = "persisted_documents"
    __table_args__ = (Index(None, "sha256"), Index(None, "trusted", "used_at"))

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class LoginAttempts(Base):
    """One login throttle bucket on PostgreSQL (db/login_attempts.py): shared by every server
    process on the database, and kept across restarts.

    `kind` is `account` or `address`; `key` the SHA-256 of the normalised email or the address
    (a fixed-size key, whatever the email's length, and no email in clear text). `updated` is
    the wall-clock time (seconds since the epoch) of the last attempt, `granted` whether it got
    a token. Rows not updated for their window hold a full bucket and are purged.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index(None, "kind", "updated"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    updated: Mapped[float] = mapped_column(Double)
    granted: Mapped[bool] = mapped_column(Boolean)
