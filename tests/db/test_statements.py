"""db/sql/statements.py: `any_of` per dialect, and the records that reads are made of."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Tag
from db.sql.engine import Database
from db.sql.statements import any_of, records
from tests.support.engines import settings_for

NAMES = [f"tag{number}" for number in range(6)]


@pytest.fixture
def database(app: FastAPI) -> Database:
    found: Database = app.state.services.database
    return found


@pytest.fixture
async def tag_ids(database: Database) -> dict[str, int]:
    async with database.unit_of_work() as session:
        await session.execute(insert(Tag), [{"name": name} for name in NAMES])
    async with database.read_session() as session:
        return dict((await session.execute(select(Tag.name, Tag.id))).all())


@pytest.fixture
def sql(database: Database) -> Iterator[list[str]]:
    """The SQL texts the database runs during the test."""
    texts: list[str] = []

    def record(_: Any, __: Any, statement: str, *___: Any) -> None:
        texts.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    yield texts
    event.remove(database.engine.sync_engine, "before_cursor_execute", record)


BY_IDS = select(Tag.name).where(any_of(Tag.id)).order_by(Tag.name)


def test_any_of_is_one_array_parameter_on_postgresql_and_an_expanding_in_on_sqlite(
    database: Database, engine_name: str
) -> None:
    compiled = str(BY_IDS.compile(dialect=database.engine.dialect))
    if engine_name == "postgresql":
        assert "tags.id = ANY ($1::INTEGER[])" in compiled
        assert " IN " not in compiled
    else:
        assert "tags.id IN (__[POSTCOMPILE_ids])" in compiled
        assert "ANY" not in compiled


@pytest.mark.parametrize(
    "chosen",
    [[], ["tag0"], ["tag1", "tag4"], NAMES],
    ids=["none", "one", "two", "all"],
)
async def test_any_of_selects_the_rows_with_the_listed_ids(
    database: Database, tag_ids: dict[str, int], chosen: list[str]
) -> None:
    ids = [tag_ids[name] for name in chosen]
    async with database.read_session() as session:
        found = (await session.scalars(BY_IDS, {"ids": ids})).all()
    assert found == sorted(chosen)


async def test_any_of_ignores_ids_that_match_nothing_and_repeated_ones(
    database: Database, tag_ids: dict[str, int]
) -> None:
    missing = max(tag_ids.values()) + 1000
    ids = [missing, tag_ids["tag2"], tag_ids["tag2"], tag_ids["tag3"]]
    async with database.read_session() as session:
        found = (await session.scalars(BY_IDS, {"ids": ids})).all()
    assert found == ["tag2", "tag3"]


async def test_any_of_sql_text_depends_on_the_list_length_on_sqlite_only(
    database: Database, tag_ids: dict[str, int], sql: list[str], engine_name: str
) -> None:
    ids = sorted(tag_ids.values())
    async with database.read_session() as session:
        for length in (1, 3, 6):
            assert len((await session.scalars(BY_IDS, {"ids": ids[:length]})).all()) == length
    expected = 1 if engine_name == "postgresql" else 3
    assert len(set(sql)) == expected, sql


async def test_any_of_binds_the_parameter_it_names(database: Database, tag_ids: dict[str, int]) -> None:
    """Statements that differ only in the parameter's name are not confused (their cache keys differ)."""
    async with database.read_session() as session:
        for name, tag in [("first", "tag1"), ("second", "tag2")]:
            stmt = select(Tag.name).where(any_of(Tag.id, name))
            assert (await session.scalars(stmt, {name: [tag_ids[tag]]})).all() == [tag]


async def test_any_of_on_another_column(database: Database, tag_ids: dict[str, int]) -> None:
    stmt = select(Tag.id).where(any_of(Tag.name, "names")).order_by(Tag.id)
    async with database.read_session() as session:
        found = (await session.scalars(stmt, {"names": ["tag5", "tag0", "nothing"]})).all()
    assert found == sorted([tag_ids["tag0"], tag_ids["tag5"]])


# Records: named tuples, with `prefix__name` columns nested.


@pytest.fixture(scope="module")
async def reader(migrated_url: str) -> AsyncIterator[Database]:
    """A database of its own: these reads touch no table."""
    database = Database.from_settings(settings_for(migrated_url))
    yield database
    await database.dispose()


async def read(database: Database, query: str) -> list[Any]:
    session: AsyncSession
    async with database.read_session() as session:
        return records(await session.execute(text(query)))


async def test_records_are_named_tuples_of_the_columns(reader: Database) -> None:
    found = await read(reader, "SELECT 1 AS id, 'alice' AS username, NULL AS bio")
    assert all(isinstance(row, tuple) for row in found)  # not SQLAlchemy's Row
    [record] = found
    assert record._fields == ("id", "username", "bio")
    assert (record.id, record.username, record.bio) == (1, "alice", None)


async def test_records_of_several_rows(reader: Database) -> None:
    found = await read(reader, "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b' ORDER BY 1")
    assert [(record.id, record.name) for record in found] == [(1, "a"), (2, "b")]


async def test_no_rows_no_records(reader: Database) -> None:
    assert await read(reader, "SELECT 1 AS id WHERE 1 = 0") == []


async def test_prefixed_columns_form_a_nested_record(reader: Database) -> None:
    [record] = await read(
        reader, "SELECT 7 AS id, 'Title' AS title, 3 AS author__id, 'alice' AS author__username"
    )
    assert record._fields == ("id", "title", "author")
    assert (record.id, record.title) == (7, "Title")
    assert record.author._fields == ("id", "username")
    assert (record.author.id, record.author.username) == (3, "alice")


async def test_nested_columns_may_come_between_the_own_ones(reader: Database) -> None:
    [record] = await read(
        reader,
        "SELECT 3 AS author__id, 7 AS id, 'alice' AS author__username, 'Title' AS title, 9 AS editor__id",
    )
    assert record._fields == ("id", "title", "author", "editor")
    assert record[:2] == (7, "Title")
    assert tuple(record.author) == (3, "alice")
    assert tuple(record.editor) == (9,)


async def test_a_nested_record_whose_first_column_is_null_is_none(reader: Database) -> None:
    """An outer join that found nothing."""
    [record] = await read(reader, "SELECT 7 AS id, NULL AS author__id, 'left over' AS author__username")
    assert record.id == 7
    assert record.author is None


async def test_a_nested_record_with_nulls_after_its_first_column_is_kept(reader: Database) -> None:
    [record] = await read(reader, "SELECT 7 AS id, 3 AS author__id, NULL AS author__bio")
    assert tuple(record.author) == (3, None)


async def test_single_column_groups(reader: Database) -> None:
    """One own column and a nested record of one column: each still a tuple of its own."""
    [record] = await read(reader, "SELECT 7 AS id, 3 AS author__id")
    assert record._fields == ("id", "author")
    assert record.id == 7
    assert record.author._fields == ("id",)
    assert record.author.id == 3


async def test_a_row_of_nested_records_only(reader: Database) -> None:
    [record] = await read(reader, "SELECT 3 AS author__id, 'alice' AS author__username, NULL AS editor__id")
    assert record._fields == ("author", "editor")
    assert tuple(record.author) == (3, "alice")
    assert record.editor is None


async def test_each_row_gets_its_own_nested_record(reader: Database) -> None:
    found = await read(
        reader,
        "SELECT 1 AS id, 3 AS author__id UNION ALL SELECT 2, NULL UNION ALL SELECT 3, 4 ORDER BY 1",
    )
    assert [(record.id, record.author and record.author.id) for record in found] == [
        (1, 3),
        (2, None),
        (3, 4),
    ]
