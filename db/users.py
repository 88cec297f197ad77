"""Accounts and profiles (follows are in db/follows.py).

Reads give records (typed by db/rows.py), whatever they find a user by; ORM `User`s are only
what a unit of work changes: the one `create` made, the one `get_to_update` gives `update`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache, partial

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db import rules
from db.errors import BadCredentials, DomainError, Invalid, Invalids, Taken
from db.models import User, utc_now
from db.passwords import Passwords
from db.rows import AccountRow, AuthorRow, CredentialsRow, UserRow
from db.shown import USERS
from db.sql.demand import Demand, shown
from db.sql.fetch import Reader, fetch
from db.sql.paging import Query
from db.sql.statements import any_of, author_columns
from db.throttle import LoginThrottle

TAKEN = "has already been taken"


async def get_to_update(session: AsyncSession, user_id: int) -> User | None:
    """The ORM user, for `update` to change in this unit of work; reads give records."""
    return await session.get(User, user_id)


_USERS = User.__table__


@lru_cache(maxsize=256)
def _lookup(by: str, demand: Demand | None, anonymous: bool) -> Query:
    """Users by username or by ids, showing what `demand` asks (db/shown.py); their public
    columns without one."""
    view = shown(USERS, demand, anonymous)
    condition = view.row.c.username_key == bindparam("key") if by == "key" else any_of(view.row.c.id)
    return view.select().where(condition)


_KEPT = (
    select(*author_columns(_USERS))
    .where(_USERS.c.id == bindparam("id"))
    .with_for_update(read=True, key_share=True)
)


async def keep_existing(session: AsyncSession, user_id: int) -> AuthorRow | None:
    """The user as an author, None when they no longer exist. On PostgreSQL their row is then
    kept (FOR KEY SHARE) to the end of the transaction: a concurrent deletion waits for the
    writes that refer to them instead of slipping in between as a foreign key violation."""
    found: list[AuthorRow] = await fetch(session, _KEPT, {"id": user_id})
    return found[0] if found else None


async def get_by_username(
    reader: Reader, username: str, demand: Demand | None = None, *, viewer_id: int | None = None
) -> UserRow | None:
    if not rules.comparable(username):
        return None
    stmt = _lookup("key", demand, viewer_id is None)
    found: list[UserRow] = await fetch(reader, stmt, {"key": rules.key(username), "viewer_id": viewer_id})
    return found[0] if found else None


_BY_EMAIL = select(_USERS).where(_USERS.c.email_key == bindparam("key"))


async def get_by_email(reader: Reader, email: str) -> CredentialsRow | None:
    """The account with this email, with its password hash (for `authenticate`)."""
    if not rules.comparable(email):
        return None
    found: list[CredentialsRow] = await fetch(reader, _BY_EMAIL, {"key": rules.key(email.strip())})
    return found[0] if found else None


async def users_by_id(
    reader: Reader, user_ids: Sequence[int], demand: Demand | None = None, *, viewer_id: int | None = None
) -> dict[int, UserRow]:
    found: list[UserRow] = await fetch(
        reader, _lookup("ids", demand, viewer_id is None), {"ids": user_ids, "viewer_id": viewer_id}
    )
    return {user.id: user for user in found}


async def create(
    session: AsyncSession, *, username: str, email: str, password: str, passwords: Passwords
) -> User:
    """A new account; `Taken` when the username or email is in use, even under a race."""
    username, email, password = rules.all_of(
        lambda: rules.username(username),
        lambda: rules.email(email),
        lambda: rules.password(password),
    )
    await _refuse_taken(session, username=username, email=email)
    user = User(
        username=username,
        username_key=rules.key(username),
        email=email,
        email_key=rules.key(email),
        password_hash=await passwords.hash(password),
    )
    session.add(user)
    await _flush_unique(session)
    return user


async def authenticate(
    reader: Reader,
    *,
    email: str,
    password: str,
    passwords: Passwords,
    throttle: LoginThrottle | None = None,
) -> AccountRow:
    """The account with these credentials; one `BadCredentials` for any mismatch.

    With a `throttle`, an account out of attempts is `TooManyRequests` before its password is
    checked (known emails and unknown ones alike), and a correct password resets its count.
    """
    try:
        email, password = rules.all_of(
            lambda: rules.text(email, "email", max_length=rules.EMAIL_MAX).strip(),
            lambda: rules.text(password, "password", max_length=rules.PASSWORD_MAX),
        )
    except DomainError:
        if throttle is not None:
            await throttle.check(None)  # the attempt counts for its address all the same
        raise
    account = rules.key(email)
    if throttle is not None:
        await throttle.check(account)
    user = await get_by_email(reader, email)
    if not await passwords.verify(user.password_hash if user else None, password) or not user:
        raise BadCredentials("email or password is invalid")
    if throttle is not None:
        await throttle.succeeded(account)
    return user


async def update(
    session: AsyncSession,
    user: User,
    *,
    changes: dict[str, str | None],
    passwords: Passwords,
) -> User:
    """Apply the given changes (absent keys keep their value); `""` clears bio and image."""
    names = [name for name in _CHANGE_RULES if name in changes]
    checked = rules.all_of(*(partial(_CHANGE_RULES[name], changes[name]) for name in names))
    values = dict(zip(names, checked, strict=True))
    await _refuse_taken(
        session, username=values.get("username"), email=values.get("email"), except_id=user.id
    )
    if "username" in values:
        user.username, user.username_key = values["username"], rules.key(values["username"])
    if "email" in values:
        user.email, user.email_key = values["email"], rules.key(values["email"])
    if "password" in values:
        user.password_hash = await passwords.hash(values["password"])
    if "bio" in values:
        user.bio = values["bio"]
    if "image" in values:
        user.image = values["image"]
    user.updated_at = utc_now()
    await _flush_unique(session)
    return user


def _required(value: str | None, field: str) -> str:
    if value is None:
        raise Invalid("can't be null", field=(field,))
    return value


_CHANGE_RULES: dict[str, Callable[[str | None], str | None]] = {
    "username": lambda v: rules.username(_required(v, "username")),
    "email": lambda v: rules.email(_required(v, "email")),
    "password": lambda v: rules.password(_required(v, "password")),
    "bio": lambda v: rules.optional_prose(v, "bio", max_length=rules.BIO_MAX),
    "image": lambda v: rules.url(v, "image"),
}


async def _refuse_taken(
    session: AsyncSession,
    *,
    username: str | None,
    email: str | None,
    except_id: int | None = None,
) -> None:
    errors: list[DomainError] = []
    if username is not None:
        other = await get_by_username(session, username)
        if other is not None and other.id != except_id:
            errors.append(Taken(TAKEN, field=("username",)))
    if email is not None:
        owner = await get_by_email(session, email)
        if owner is not None and owner.id != except_id:
            errors.append(Taken(TAKEN, field=("email",)))
    if errors:
        raise errors[0] if len(errors) == 1 else Invalids(errors)


async def _flush_unique(session: AsyncSession) -> None:
    """Flush, turning a unique violation from a concurrent writer into `Taken`."""
    try:
        await session.flush()
    except IntegrityError as error:
        field = "email" if "email_key" in str(error.orig) else "username"
        raise Taken(TAKEN, field=(field,)) from None
