"""Follows: follow/unfollow, who the viewer follows, follower and following counts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import Invalid, NotFound
from db.models import Follow, utc_now
from db.rows import UserRow
from db.sql.fetch import Reader, fetch
from db.sql.statements import any_of, counts_by, insert_ignoring_duplicates
from db.users import get_by_username


async def follow(session: AsyncSession, *, follower_id: int, username: str) -> UserRow:
    """Idempotent; following oneself is `Invalid`. The followee as read, a record: the write
    changes a follow, not the user."""
    followee = await _existing(session, username)
    if followee.id == follower_id:
        raise Invalid("you cannot follow yourself", field=("username",))
    await insert_ignoring_duplicates(
        session, Follow, [{"follower_id": follower_id, "followee_id": followee.id, "created_at": utc_now()}]
    )
    return followee


async def unfollow(session: AsyncSession, *, follower_id: int, username: str) -> UserRow:
    """Idempotent: unfollowing someone not followed changes nothing."""
    followee = await _existing(session, username)
    await session.execute(
        delete(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee.id)
    )
    return followee


async def _existing(session: AsyncSession, username: str) -> UserRow:
    user = await get_by_username(session, username)
    if user is None:
        raise NotFound("user not found", field=("username",))
    return user


_FOLLOWS = Follow.__table__
_FOLLOWED = select(_FOLLOWS.c.followee_id).where(
    _FOLLOWS.c.follower_id == bindparam("follower_id"), any_of(_FOLLOWS.c.followee_id)
)
_FOLLOWERS = counts_by(_FOLLOWS.c.followee_id)
_FOLLOWING = counts_by(_FOLLOWS.c.follower_id)


async def followed_ids(reader: Reader, *, follower_id: int, user_ids: Sequence[int]) -> set[int]:
    """Which of `user_ids` the follower follows."""
    followed = await fetch(reader, _FOLLOWED, {"follower_id": follower_id, "ids": user_ids})
    return {row.followee_id for row in followed}


async def follower_counts(reader: Reader, user_ids: Sequence[int]) -> dict[int, int]:
    """Followers per user; users without any are absent."""
    return dict(await fetch(reader, _FOLLOWERS, {"ids": user_ids}))


async def following_counts(reader: Reader, user_ids: Sequence[int]) -> dict[int, int]:
    """Users followed per user; users following nobody are absent."""
    return dict(await fetch(reader, _FOLLOWING, {"ids": user_ids}))
