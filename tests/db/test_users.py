"""The users repository on both engines: the session plumbing and the uniqueness rules."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

import db.users
from db.errors import Invalids, Taken
from db.passwords import Passwords
from db.sql.engine import Database


@pytest.fixture
def database(app: FastAPI) -> Database:
    database: Database = app.state.services.database
    return database


@pytest.fixture
def passwords(app: FastAPI) -> Passwords:
    passwords: Passwords = app.state.services.passwords
    return passwords


async def test_created_user_is_found_by_id_username_and_email(
    database: Database, passwords: Passwords
) -> None:
    async with database.unit_of_work() as session:
        created = await db.users.create(
            session, username="Alice", email="Alice@Example.com", password="s3cret-pass", passwords=passwords
        )
    async with database.read_session() as session:
        by_id = await db.users.get_to_update(session, created.id)
        by_name = await db.users.get_by_username(session, "ALICE")
        by_email = await db.users.get_by_email(session, "alice@example.COM")
    assert by_id is not None and by_id.username == "Alice"
    assert by_name is not None and by_name.id == created.id
    assert by_email is not None and by_email.id == created.id
    assert by_id.password_hash.startswith("$argon2")


async def test_duplicate_username_is_taken_after_nfkc_and_case_folding(
    database: Database, passwords: Passwords
) -> None:
    async with database.unit_of_work() as session:
        await db.users.create(
            session, username="ｂob", email="bob@example.com", password="password1", passwords=passwords
        )
    with pytest.raises(Taken) as raised:
        async with database.unit_of_work() as session:
            await db.users.create(
                session,
                username="BOB",
                email="other@example.com",
                password="password1",
                passwords=passwords,
            )
    assert raised.value.field == ("username",)
    assert raised.value.message == "has already been taken"


async def test_duplicate_username_and_email_are_both_reported(
    database: Database, passwords: Passwords
) -> None:
    async with database.unit_of_work() as session:
        await db.users.create(
            session, username="carol", email="carol@example.com", password="password1", passwords=passwords
        )
    with pytest.raises(Invalids) as raised:
        async with database.unit_of_work() as session:
            await db.users.create(
                session,
                username="Carol",
                email="CAROL@example.com",
                password="password1",
                passwords=passwords,
            )
    assert [(e.code, e.field) for e in raised.value.errors] == [
        ("TAKEN", ("username",)),
        ("TAKEN", ("email",)),
    ]


async def test_a_failed_create_leaves_nothing_behind(database: Database, passwords: Passwords) -> None:
    with pytest.raises(RuntimeError):  # noqa: PT012 - the failure must strike inside the unit of work
        async with database.unit_of_work() as session:
            await db.users.create(
                session, username="dave", email="dave@example.com", password="password1", passwords=passwords
            )
            raise RuntimeError("after the insert, before the commit")
    async with database.read_session() as session:
        assert await db.users.get_by_username(session, "dave") is None
