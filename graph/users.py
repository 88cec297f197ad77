"""Profiles, the viewer, the account and follow mutations, and `authors` (users by id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry

import db.follows
import db.users
from db.errors import DomainError, TooManyRequests
from db.sql.demand import Demand
from graph.auth import issue_token
from graph.batch import at_root, batched, later
from graph.context import Context, Info
from graph.errors import Unauthenticated, UserError, user_errors
from graph.loaders import load_all
from graph.node import Node
from graph.selection import Selected, demand_of

if TYPE_CHECKING:
    from graph.articles import ArticleConnection

ArticleConnectionType = Annotated["ArticleConnection", strawberry.lazy("graph.articles")]


async def following_flags(users: Sequence[User], context: Context) -> list[bool]:
    return await load_all(context.loaders.following_by_user_id, [u.row_id for u in users])


async def followers_counts(users: Sequence[User], context: Context) -> list[int]:
    return await load_all(context.loaders.followers_count_by_user_id, [u.row_id for u in users])


async def following_counts(users: Sequence[User], context: Context) -> list[int]:
    return await load_all(context.loaders.following_count_by_user_id, [u.row_id for u in users])


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


@strawberry.type(description="A public profile.")
class User(Node):
    row_id: strawberry.Private[int]
    username: str
    bio: str | None = strawberry.field(
        description="Null when never set; an empty string given as input is stored as null."
    )
    image: str | None = strawberry.field(
        description="An image URL; null when never set; an empty string given as input is stored as null."
    )
    created_at: datetime
    row: strawberry.Private[Any] = None
    """The row read, with what its read brought besides (graph/selection.py)."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
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

    @strawberry.field
    @batched(followers_counts, read_with="followers_count")
    async def followers_count(self, info: Info) -> int: ...

    @strawberry.field
    @batched(following_counts, read_with="following_count")
    async def following_count(self, info: Info) -> int: ...

    @strawberry.field(description="Articles written by this user, newest first.")
    @batched(later("graph.articles", "article_pages"))
    async def articles(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ArticleConnectionType: ...

    @strawberry.field(description="Articles this user favorited, most recently favorited first.")
    @batched(later("graph.articles", "favorite_pages"))
    async def favorites(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ArticleConnectionType: ...


@strawberry.type(description="The signed-in user: their profile plus what only they may see.")
class Viewer:
    user: User
    email: str

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(user=User.from_row(row), email=row.email)

    @strawberry.field(description="Articles by the users the viewer follows, newest first.")
    @batched(later("graph.articles", "feeds"))
    async def feed(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ArticleConnectionType: ...


@strawberry.type
class AuthPayload:
    token: str | None = strawberry.field(
        default=None,
        description="A bearer token for the Authorization header; null when errors is not empty.",
    )
    viewer: Viewer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateViewerPayload:
    viewer: Viewer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class FollowPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RegisterInput:
    username: str
    email: str
    password: str


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class UpdateViewerInput:
    username: strawberry.Maybe[str | None]
    email: strawberry.Maybe[str | None]
    password: strawberry.Maybe[str | None]
    bio: strawberry.Maybe[str | None]
    image: strawberry.Maybe[str | None]


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
    return Viewer.from_row(row)


_EMAIL = Demand(columns=frozenset({"email"}))


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

    @strawberry.field
    @batched(at_root(find_user))
    async def user(self, info: Info, username: str) -> User | None: ...


@strawberry.type
class UserMutations:
    @strawberry.mutation
    async def register(self, info: Info, input: RegisterInput) -> AuthPayload:
        context = info.context
        services = context.services
        try:
            async with context.unit_of_work(require_viewer=False) as work:
                row = await db.users.create(
                    work.session,
                    username=input.username,
                    email=input.email,
                    password=input.password,
                    passwords=services.passwords,
                )
        except DomainError as error:
            return AuthPayload(errors=user_errors(error))
        return _signed_in(context, row)

    @strawberry.mutation(
        description="A token for these credentials. Throttled per account and per client address: "
        "past the limits it is a TOO_MANY_REQUESTS error whose retryAfter says when to try again."
    )
    async def login(self, info: Info, input: LoginInput) -> AuthPayload:
        context = info.context
        services = context.services
        try:
            services.login_throttle.check_address(context.client_address)
            async with services.database.read_session() as session:
                row = await db.users.authenticate(
                    session,
                    email=input.email,
                    password=input.password,
                    passwords=services.passwords,
                    throttle=services.login_throttle,
                )
        except TooManyRequests as error:
            context.retry_after(error.retry_after)
            return AuthPayload(errors=user_errors(error))
        except DomainError as error:
            return AuthPayload(errors=user_errors(error))
        return _signed_in(context, row)

    @strawberry.mutation
    async def update_viewer(self, info: Info, input: UpdateViewerInput) -> UpdateViewerPayload:
        context = info.context
        changes = {
            name: given.value
            for name in ("username", "email", "password", "bio", "image")
            if (given := getattr(input, name)) is not None
        }
        try:
            async with context.unit_of_work() as work:
                user = await db.users.get(work.session, work.viewer_id)
                if user is None:  # not while the operation holds the viewer's row (graph/mutations.py)
                    raise Unauthenticated("the token's user no longer exists")
                row = await db.users.update(
                    work.session, user, changes=changes, passwords=context.services.passwords
                )
                context.viewer_row = None  # changed: later payloads load the viewer afresh
        except DomainError as error:
            return UpdateViewerPayload(errors=user_errors(error))
        return UpdateViewerPayload(viewer=Viewer.from_row(row))

    @strawberry.mutation
    async def follow_user(self, info: Info, username: str) -> FollowPayload:
        return await _change_follow(info, username, db.follows.follow)

    @strawberry.mutation
    async def unfollow_user(self, info: Info, username: str) -> FollowPayload:
        return await _change_follow(info, username, db.follows.unfollow)


async def _change_follow(info: Info, username: str, change: Any) -> FollowPayload:
    context = info.context
    try:
        async with context.unit_of_work() as work:
            row = await change(work.session, follower_id=work.viewer_id, username=username)
    except DomainError as error:
        return FollowPayload(errors=user_errors(error, ()))
    return FollowPayload(user=User.from_row(row))


def _signed_in(context: Context, row: Any) -> AuthPayload:
    """The payload with a new token; the response, a bearer credential, is then never stored."""
    context.issued_credentials = True
    return AuthPayload(token=issue_token(context.services.settings, row.id), viewer=Viewer.from_row(row))
