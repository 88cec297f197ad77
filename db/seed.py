"""A small demo data set for `make dev`, written through the repository functions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

import db.articles
import db.comments
import db.favorites
import db.follows
import db.users
from db.passwords import Passwords

DEMO_PASSWORD = "conduit-demo"

_USERS = [
    ("jake", "jake@example.com", "I work at statefarm", None),
    ("ada", "ada@example.com", "Poet of numbers", None),
    ("linus", "linus@example.com", None, None),
]
_ARTICLES = [
    ("jake", "How to train your dragon", "Ever wonder how?", "It takes a Jacobian.", ["dragons", "training"]),
    (
        "ada",
        "Notes on the Analytical Engine",
        "Note G, and more",
        "The engine weaves algebraic patterns.",
        ["history", "computing"],
    ),
    (
        "linus",
        "Just for fun",
        "A hobby project",
        "It won't be big and professional.",
        ["computing", "kernels"],
    ),
    ("jake", "Dragons revisited", "Part two", "Still training dragons.", ["dragons"]),
]
_COMMENTS = [
    ("ada", "how-to-train-your-dragon", "Lovely read."),
    ("linus", "notes-on-the-analytical-engine", "Fascinating."),
    ("jake", "just-for-fun", "It did get big."),
]


async def seed(session: AsyncSession, passwords: Passwords) -> bool:
    """Add the demo data unless it is there already; True when something was added."""
    if await db.users.get_by_username(session, _USERS[0][0]) is not None:
        return False
    ids = {}
    for username, email, bio, image in _USERS:
        user = await db.users.create(
            session, username=username, email=email, password=DEMO_PASSWORD, passwords=passwords
        )
        await db.users.update(session, user, changes={"bio": bio, "image": image}, passwords=passwords)
        ids[username] = user.id
    for author, title, description, body, tags in _ARTICLES:
        await db.articles.create(
            session, author_id=ids[author], title=title, description=description, body=body, tag_list=tags
        )
    for author, slug, body in _COMMENTS:
        await db.comments.create(session, author_id=ids[author], article_slug=slug, body=body)
    await db.follows.follow(session, follower_id=ids["jake"], username="ada")
    await db.favorites.favorite(session, user_id=ids["ada"], slug="how-to-train-your-dragon")
    return True
