"""Profiles, the viewer, the user queries, and `authors` (users by id). The account and follow
mutations are in graph/user_mutations.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Self, cast

import strawberry

import db.rules
import db.users
from db.rows import AccountRow, UserRow
from db.sql.demand import Demand
from graph.arguments import After, Before, First, Last, Username
from graph.batch import at_root, batched, later
from graph.context import Context, Info
from graph.errors import Unauthenticated
from graph.loaders import load_all
from graph.node import Node
from graph.selection import Selected, demand_of

if TYPE_CHECKING:
    from graph.articles import ArticleConnection

ArticleConnectionType = Annotated["ArticleConnection", strawberry.lazy("graph.articles")]


async def following_flags(users: Sequence[User], context: Context) -> list[bool]:
    """False without a viewer (the read leaves the flag out then: db/shown.py), with no loader."""
    if context.viewer_id is None:
        return [False] * len(users)
    return await load_all(context.loaders.following_by_user_id, [u.row_id for u in users])


async def followers_counts(users: Sequence[User], context: Context) -> list[int]:
    return await load_all(context.loaders.followers_count_by_user_id, [u.row_id for u in users])


async def following_counts(users: Sequence[User], context: Context) -> list[int]:
    return await load_all(context.loaders.following_count_by_user_id, [u.row_id for u in users])


async def articles_counts(users: Sequence[User], context: Context) -> list[int]:
    return await load_all(context.loaders.articles_count_by_author_id, [u.row_id for u in users])


async def authors(writings: Sequence[Any], context: Context) -> list[User]:
    """The authors of articles or comments (anything with an `author_id`, and an `author_row`
    when it was read with them)."""
    missing = [w.author_id for w in writings if w.author_row is None]
    loaded = dict(zip(missing, await load_all(context.loaders.user_by_id, missing), strict=True))
    shown: dict[int, User] = {}
    for writing in writings:
        if writing.author_id not in shown:
            row = loaded[writing.author_id] if writing.author_row is None else writing.author_row
            shown[writing.author_id] = User.from_row(row)
    return [shown[w.author_id] for w in writings]


@strawberry.type(description="A public profile: what anyone may see of a user.")
class User(Node):
    row_id: strawberry.Private[int]
    username: str = strawberry.field(
        description="Unique, compared case-insensitively (after Unicode NFKC normalisation); "
        f"at most {db.rules.USERNAME_MAX} characters."
    )
    bio: str | None = strawberry.field(
        description="Null when never set; an empty string given as input is stored as null."
    )
    image: str | None = strawberry.field(
        description="An image URL; null when never set; an empty string given as input is stored as null."
    )
    created_at: datetime = strawberry.field(description="When the account was registered.")
    row: strawberry.Private[UserRow | None] = None
    """The row read, with what its read brought besides (graph/selection.py)."""

    @classmethod
    def from_row(cls, row: UserRow) -> Self:
        """The row has the columns its read was asked for (the others are None: the query
        selects none of their fields)."""
        return cls(
            row_id=row.id,
            username=getattr(row, "username", None),  # type: ignore[arg-type]
            bio=getattr(row, "bio", None),
            image=getattr(row, "image", None),
            created_at=getattr(row, "created_at", None),  # type: ignore[arg-type]
            row=row,
        )

    @strawberry.field(
        description="Whether the signed-in viewer follows this user; false for anonymous requests."
    )
    @batched(following_flags, read_with="following")
    async def following(self, info: Info) -> bool: ...

    @strawberry.field(description="How many users follow this user.")
    @batched(followers_counts, read_with="followers_count")
    async def followers_count(self, info: Info) -> int: ...

    @strawberry.field(description="How many users this user follows.")
    @batched(following_counts, read_with="following_count")
    async def following_count(self, info: Info) -> int: ...

    @strawberry.field(
        description="How many articles this user has written (what `articles { totalCount }` "
        "counts, as a field a normalized cache keeps on the user whatever page it holds)."
    )
    @batched(articles_counts, read_with="articles_count")
    async def articles_count(self, info: Info) -> int: ...

    @strawberry.field(description="Articles written by this user, newest first.")
    @batched(later("graph.articles", "article_pages"))
    async def articles(
        self, info: Info, first: First = None, after: After = None
    ) -> ArticleConnectionType: ...

    @strawberry.field(description="Articles this user favorited, most recently favorited first.")
    @batched(later("graph.articles", "favorite_pages"))
    async def favorites(
        self, info: Info, first: First = None, after: After = None
    ) -> ArticleConnectionType: ...


@strawberry.type(
    description="The signed-in user: their profile plus what only they may see. Its `id` "
    "(a Viewer global ID, not the profile's) names it for caches and `node`, which answers it "
    "only to that user."
)
class Viewer(Node):
    row_id: strawberry.Private[int]
    user: User = strawberry.field(description="The viewer's public profile.")
    email: str = strawberry.field(description="The viewer's email address; unique, case-insensitively.")

    @classmethod
    def from_row(cls, row: AccountRow) -> Self:
        return cls(row_id=row.id, user=User.from_row(row), email=row.email)

    @strawberry.field(description="Articles by the users the viewer follows, newest first.")
    @batched(later("graph.articles", "feeds"))
    async def feed(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ArticleConnectionType: ...


async def find_viewer(context: Context, selected: Selected | None = None) -> Viewer | None:
    viewer_id = context.viewer_id
    if viewer_id is None:
        return None
    if selected is None:
        row = await context.loaders.user_by_id.load(viewer_id)
    else:
        demand = demand_of(User, selected.get("user", {})) | _EMAIL
        found = await context.read(
            partial(db.users.users_by_id, user_ids=[viewer_id], demand=demand, viewer_id=viewer_id)
        )
        row = found.get(viewer_id)
    if row is None:
        raise Unauthenticated("the token's user no longer exists")
    # Read with its email: by the loader, without a demand (every column), or asked for.
    return Viewer.from_row(cast("AccountRow", row))


_EMAIL = Demand(columns=frozenset({"email"}))


async def viewers_of_payloads(payloads: Sequence[Any], context: Context) -> list[Viewer | None]:
    """The signed-in viewer for each mutation payload that succeeded (has no `errors`), as the
    operation's transaction sees them now; None for the others."""
    viewer = await find_viewer(context) if any(not p.errors for p in payloads) else None
    return [None if p.errors else viewer for p in payloads]


async def find_user(context: Context, *, username: str, selected: Selected | None = None) -> User | None:
    demand = None if selected is None else demand_of(User, selected)
    read = partial(db.users.get_by_username, username=username, demand=demand, viewer_id=context.viewer_id)
    row = await context.read(read)
    return User.from_row(row) if row else None


@strawberry.type
class UserQueries:
    @strawberry.field(description="The signed-in user; null for anonymous requests.")
    @batched(at_root(find_viewer))
    async def viewer(self, info: Info) -> Viewer | None: ...

    @strawberry.field(description="The profile with this username; null when there is none.")
    @batched(at_root(find_user))
    async def user(
        self,
        info: Info,
        username: Username,
    ) -> User | None: ...
