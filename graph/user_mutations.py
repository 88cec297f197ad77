"""The account and follow mutations: register, login, updateViewer, followUser, unfollowUser,
their inputs and payloads.

Each payload carries every object its mutation changed, with its `id`, so that a normalized
client cache (Apollo's InMemoryCache, urql's graphcache) updates them without a refetch:
`followUser` returns the followed user (`following`, `followersCount`) and the viewer
(`user.followingCount`).
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

import db.follows
import db.rules
import db.users
from db.errors import DomainError, TooManyRequests
from db.rows import AccountRow
from graph.arguments import Username
from graph.auth import issue_token
from graph.batch import batched
from graph.context import Context, Info
from graph.errors import PAYLOAD_ERRORS, Unauthenticated, UserError, user_errors
from graph.users import User, Viewer, viewers_of_payloads


@strawberry.type(description="The result of register and login.")
class AuthPayload:
    token: str | None = strawberry.field(
        default=None,
        description="A bearer token for the Authorization header; null when errors is not empty.",
    )
    viewer: Viewer | None = strawberry.field(
        default=None, description="The signed-in account; null when errors is not empty."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=PAYLOAD_ERRORS)


@strawberry.type(description="The result of updateViewer.")
class UpdateViewerPayload:
    viewer: Viewer | None = strawberry.field(
        default=None,
        description="The viewer as changed (same `id`: a cache updates its email and profile); "
        "null when errors is not empty.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=PAYLOAD_ERRORS)


@strawberry.type(description="The result of followUser and unfollowUser.")
class FollowPayload:
    user: User | None = strawberry.field(
        default=None,
        description="The user followed or unfollowed, as now (`following`, `followersCount`); "
        "null when errors is not empty.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=PAYLOAD_ERRORS)

    @strawberry.field(
        description="The viewer, as now (`user.followingCount` changed, and `feed` with it); "
        "null when errors is not empty."
    )
    @batched(viewers_of_payloads)
    async def viewer(self, info: Info) -> Viewer | None: ...


@strawberry.input(description="A new account.")
class RegisterInput:
    username: str = strawberry.field(
        description=f"Unique (case-insensitively), 1 to {db.rules.USERNAME_MAX} characters, "
        "no spaces or slashes; TAKEN when in use."
    )
    email: str = strawberry.field(
        description=f"Unique (case-insensitively), at most {db.rules.EMAIL_MAX} characters; "
        "TAKEN when in use."
    )
    password: str = strawberry.field(
        description=f"{db.rules.PASSWORD_MIN} to {db.rules.PASSWORD_MAX} characters; "
        "never returned or logged."
    )


@strawberry.input(description="The credentials of an account.")
class LoginInput:
    email: str = strawberry.field(description="The account's email, compared case-insensitively.")
    password: str = strawberry.field(description="The account's password.")


_KEEP = "Absent keeps the current value"


@strawberry.input(description="Changes to the viewer's account; only the fields given change.")
class UpdateViewerInput:
    username: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}; null is INVALID. Rules as in RegisterInput."
    )
    email: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}; null is INVALID. Rules as in RegisterInput."
    )
    password: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}; null is INVALID. Rules as in RegisterInput; existing tokens stay valid."
    )
    bio: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}; null or an empty string clears it; at most {db.rules.BIO_MAX} characters."
    )
    image: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{_KEEP}; null or an empty string clears it; an http(s) URL of at most "
        f"{db.rules.URL_MAX} characters."
    )


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="Creates an account and signs it in.")
    async def register(
        self, info: Info, input: Annotated[RegisterInput, strawberry.argument(description="The new account.")]
    ) -> AuthPayload:
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
    async def login(
        self, info: Info, input: Annotated[LoginInput, strawberry.argument(description="The credentials.")]
    ) -> AuthPayload:
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

    @strawberry.mutation(
        description="Changes the signed-in viewer's account; UNAUTHENTICATED when anonymous."
    )
    async def update_viewer(
        self,
        info: Info,
        input: Annotated[UpdateViewerInput, strawberry.argument(description="What to change.")],
    ) -> UpdateViewerPayload:
        context = info.context
        changes = {
            name: given.value
            for name in ("username", "email", "password", "bio", "image")
            if (given := getattr(input, name)) is not None
        }
        try:
            async with context.unit_of_work() as work:
                user = await db.users.get_to_update(work.session, work.viewer_id)
                if user is None:  # not while the operation holds the viewer's row (graph/mutations.py)
                    raise Unauthenticated("the token's user no longer exists")
                row = await db.users.update(
                    work.session, user, changes=changes, passwords=context.services.passwords
                )
                context.viewer_row = None  # changed: later payloads load the viewer afresh
        except DomainError as error:
            return UpdateViewerPayload(errors=user_errors(error))
        return UpdateViewerPayload(viewer=Viewer.from_row(row))

    @strawberry.mutation(
        description="The viewer follows this user; idempotent. Following oneself is INVALID."
    )
    async def follow_user(self, info: Info, username: Username) -> FollowPayload:
        return await _change_follow(info, username, db.follows.follow)

    @strawberry.mutation(description="The viewer stops following this user; idempotent.")
    async def unfollow_user(self, info: Info, username: Username) -> FollowPayload:
        return await _change_follow(info, username, db.follows.unfollow)


async def _change_follow(info: Info, username: str, change: Any) -> FollowPayload:
    context = info.context
    try:
        async with context.unit_of_work() as work:
            row = await change(work.session, follower_id=work.viewer_id, username=username)
    except DomainError as error:
        return FollowPayload(errors=user_errors(error, ()))
    return FollowPayload(user=User.from_row(row))


def _signed_in(context: Context, row: AccountRow) -> AuthPayload:
    """The payload with a new token; the response, a bearer credential, is then never stored."""
    context.issued_credentials = True
    return AuthPayload(token=issue_token(context.services.settings, row.id), viewer=Viewer.from_row(row))
