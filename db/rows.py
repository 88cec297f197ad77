"""The rows reads give, as types: what a row of a user, an article or a comment has.

A read's rows are records, named tuples of its statement's columns made by
`db.sql.statements.record_maker`; a write's are ORM objects. These protocols name, for the
type checker only, what either has: they cost nothing when the code runs, and a function that
shows a row (`from_row` in graph/) takes a record and an ORM object alike.

Each protocol declares what every row of it has. What a read's `Demand` (db/shown.py) may
leave out is there only when asked for, so it is declared nowhere and read with
`getattr(row, name, None)`: the entity's other columns (`Entity.columns`), its computed values
(`Entity.computed`: counts, the viewer's flags, tag lists) and its joined relations
(`Entity.relations`: `row.author` is a `UserRow`, `row.article` an `ArticleRow`, None when the
outer join found nothing). A read without a demand has every column, none of the rest. Rows
of a page carry its keys besides (`page_sort`, `parent_id`, `total_count`: db/sql/paging.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class UserRow(Protocol):
    """A user, as any read of users gives it.

    When demanded: `username`, `bio`, `image`, `created_at`, `email`; `following`,
    `followers_count`, `following_count`, `articles_count`, `favorites_count`."""

    @property
    def id(self) -> int: ...


class AuthorRow(UserRow, Protocol):
    """A user as an author: what their profile shows (`db.sql.statements.author_columns`)."""

    @property
    def username(self) -> str: ...
    @property
    def bio(self) -> str | None: ...
    @property
    def image(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


class AccountRow(AuthorRow, Protocol):
    """A user with their email: an ORM `User`, a read of users without a demand, or one whose
    demand asked for it (the viewer's)."""

    @property
    def email(self) -> str: ...


class CredentialsRow(AccountRow, Protocol):
    """An account with its password hash: only what checks a password reads it
    (`db.users.get_by_email`)."""

    @property
    def password_hash(self) -> str: ...


class ArticleRow(Protocol):
    """An article, as any read of articles gives it (what its object and its cursor need).

    When demanded: `slug`, `title`, `description`, `body`, `updated_at`; `tag_list`,
    `favorited`, `favorites_count`, `comments_count`; `author` (a `UserRow`)."""

    @property
    def id(self) -> int: ...
    @property
    def author_id(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...


class CommentRow(Protocol):
    """A comment, as any read of comments gives it.

    When demanded: `body`, `updated_at`; `author` (a `UserRow`), `article` (an `ArticleRow`)."""

    @property
    def id(self) -> int: ...
    @property
    def author_id(self) -> int: ...
    @property
    def article_id(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
