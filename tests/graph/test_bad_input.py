"""Bad input wherever a client can put a value: a user error or BAD_USER_INPUT, never a 500,
never an internal error, never a partial write.

The places come from the served schema (tests/support/arguments.py), so a new field or
argument is swept as soon as it exists. Every request is sent as JSON text built here with
`ensure_ascii`, so lone surrogates travel as `\\ud800` escapes, as a browser would send them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import GraphQLInputObjectType, GraphQLNonNull, get_named_type
from sqlalchemy import select

from db.models import Base
from db.settings import Settings
from graph.node import to_global_id
from tests.support.arguments import (
    NestedArgument,
    Slot,
    reachable_arguments,
    root_fields,
    selection,
    served_schema,
    text_slots,
)
from tests.support.factories import (
    add_comment,
    add_comment_payload,
    create_article,
    create_article_payload,
    database,
    update_article_payload,
)
from tests.support.gql import register

SLOTS = text_slots()
FIELDS = {(operation, name): field for operation, name, field in root_fields()}

BAD_TEXT: dict[str, str] = {
    "nul": "a\x00b",
    "lone-surrogate": "a\ud800b",
    "low-surrogate-alone": "\udfff",
    "sql-statement": "'; DROP TABLE users; --",
    "sql-percent": "%",
    "sql-underscore": "_",
    "sql-backslash": "\\",
    "sql-quotes": "\"'`",
    "blank": "   ",
    "c0-control": "a\x07\x1b[2Jb",
    "bidi-override": "\u202eab",
    "zero-width-only": "\u200b\u2060",
    # NFKC and case folding make it 405 characters: a column sized to the bound refuses that.
    "longer-once-normalised": "ß" * 200 + "@x.io",
}
SQL_LOOKALIKES = {"sql-statement", "sql-percent", "sql-underscore", "sql-backslash", "sql-quotes"}
#: What a refused value may come back as: a payload user error or one of these request errors.
REQUEST_REFUSALS = {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX", "UNAUTHENTICATED"}


@dataclass(frozen=True)
class World:
    """What the baseline values of the other arguments point at, so each request gets as far as
    the value under test: alice's token, her article and her comment, and bob."""

    token: str
    slug: str
    article_id: str
    comment_id: str


async def make_world(client: httpx.AsyncClient) -> World:
    token = await register(client, "alice")
    await register(client, "bob")
    article = await create_article(client, token, tagList=["dragons"])
    comment = await add_comment(client, token, article["slug"])
    return World(token=token, slug=article["slug"], article_id=article["id"], comment_id=comment["id"])


_FRESH = count()


def ordinary_value(field: str, name: str, type_: Any, world: World) -> Any:
    """A valid value for an argument or input field that is not under test."""
    fresh = next(_FRESH)
    if field == "register" and name in ("username", "email"):
        return f"newcomer{fresh}" + ("@example.com" if name == "email" else "")
    by_name: dict[str, Any] = {
        "username": "bob",
        "email": "alice@example.com",
        "password": "password123",
        "slug": world.slug,
        "articleSlug": world.slug,
        "id": world.comment_id,
        "ids": [world.article_id],
    }
    if name in by_name:
        return by_name[name]
    named = get_named_type(type_)
    if isinstance(named, GraphQLInputObjectType):
        return {
            inner: ordinary_value(field, inner, inner_field.type, world)
            for inner, inner_field in named.fields.items()
            if isinstance(inner_field.type, GraphQLNonNull)
        }
    return ["text"] if "[" in str(type_) else "text"


def variables_for(slot: Slot, value: Any, world: World) -> dict[str, Any]:
    """The root field's required arguments filled with ordinary values, `value` at the slot."""
    field = FIELDS[(slot.operation, slot.field)]
    variables = {
        name: ordinary_value(slot.field, name, arg.type, world)
        for name, arg in field.args.items()
        if isinstance(arg.type, GraphQLNonNull) or name == slot.path[0]
    }
    if len(slot.path) == 1:
        variables[slot.path[0]] = value
        return variables
    target = variables[slot.path[0]] if isinstance(variables[slot.path[0]], dict) else {}
    variables[slot.path[0]] = target
    for name in slot.path[1:-1]:
        target = target.setdefault(name, {})
    target[slot.path[-1]] = value
    return variables


def operation_for(operation: str, field_name: str) -> str:
    """The root field with a variable for each argument and every plain field selected."""
    field = FIELDS[(operation, field_name)]
    definitions = ", ".join(f"${name}: {arg.type}" for name, arg in field.args.items())
    arguments = ", ".join(f"{name}: ${name}" for name in field.args)
    return (
        f"{operation}{f'({definitions})' if definitions else ''} "
        f"{{ {field_name}{f'({arguments})' if arguments else ''} "
        f"{selection(get_named_type(field.type))} }}"
    )


async def send(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None
) -> httpx.Response:
    """POST as JSON text escaped to ASCII: lone surrogates go as `\\udXXX` escapes."""
    body = json.dumps({"query": query, "variables": variables}, ensure_ascii=True).encode()
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await client.post("/graphql", content=body, headers=headers)


def handled(response: httpx.Response) -> dict[str, Any]:
    """The body of a response that is neither a 500 nor a masked internal error."""
    assert response.status_code == 200, response.text[:500]
    assert "INTERNAL_SERVER_ERROR" not in response.text, response.text[:500]
    body: dict[str, Any] = response.json()
    codes = {error.get("extensions", {}).get("code") for error in body.get("errors", [])}
    assert codes <= REQUEST_REFUSALS, body
    return body


def refused(body: dict[str, Any], field: str) -> bool:
    payload = (body.get("data") or {}).get(field)
    return bool(body.get("errors")) or payload is None or bool(payload.get("errors"))


def found_ids(value: Any) -> list[Any]:
    """Every non-null `id` anywhere in a response's data."""
    if isinstance(value, dict):
        own = [value["id"]] if value.get("id") is not None else []
        return own + [found for inner in value.values() for found in found_ids(inner)]
    if isinstance(value, list):
        return [found for inner in value for found in found_ids(inner)]
    return []


#: Not data but the login throttle's own bookkeeping (in memory on SQLite, shared in this table
#: on PostgreSQL): a refused login still counts as an attempt from its address, as it must.
BOOKKEEPING = {"login_attempts"}


async def snapshot(app: FastAPI) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of data: a refused mutation must leave all of it as it was."""
    async with database(app).read_session() as session:
        return {
            table.name: [
                tuple(row)
                for row in await session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
            if table.name not in BOOKKEEPING
        }


def values_for(slot: Slot, settings: Settings, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The bad values for a slot: the bad strings, one just under the request size limit, and
    for lists 10,000 items."""
    values: dict[str, Any] = dict(BAD_TEXT)
    overhead = len(json.dumps({"query": query, "variables": variables}, ensure_ascii=True))
    values["almost-1-MiB"] = "x" * (settings.max_request_bytes - overhead - 64)
    if slot.is_list:
        values = {name: [value] for name, value in values.items()}
        values["10000-items"] = [f"tag{number}" for number in range(10_000)]
    return values


@pytest.mark.parametrize("slot", SLOTS, ids=str)
async def test_every_string_argument_refuses_bad_text_cleanly(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, slot: Slot
) -> None:
    world = await make_world(client)
    query = operation_for(slot.operation, slot.field)
    mutation = slot.operation == "mutation"
    for name, value in values_for(slot, settings, query, variables_for(slot, "", world)).items():
        before = await snapshot(app) if mutation else None
        response = await send(client, query, variables_for(slot, value, world), world.token)
        body = handled(response)
        if mutation and refused(body, slot.field):
            assert await snapshot(app) == before, f"{name}: a refused mutation wrote"
        if slot.operation == "query" and name in SQL_LOOKALIKES:
            assert found_ids(body.get("data")) == [], f"{name} matched something: {body}"


def test_the_sweep_covers_every_string_argument_of_the_contract() -> None:
    """The sweep is derived from the schema; this pins a few, so an empty derivation fails."""
    names = {str(slot) for slot in SLOTS}
    assert {
        "node.id",
        "nodes.ids",
        "articles.filter.favoritedBy",
        "login.input.password",
        "createArticle.input.tagList",
        "updateArticle.input.expectedUpdatedAt",
        "deleteComment.id",
    } <= names
    assert len(SLOTS) >= 35


async def test_a_body_over_the_size_limit_is_413_and_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    world = await make_world(client)
    before = await snapshot(app)
    slot = next(s for s in SLOTS if str(s) == "createArticle.input.body")
    variables = variables_for(slot, "x" * settings.max_request_bytes, world)
    response = await send(client, operation_for("mutation", "createArticle"), variables, world.token)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await snapshot(app) == before


# Text shown to others. A title or a tag is one line: no control character and no line break.
# Descriptions, bodies and comments are prose: tab, line feed and carriage return are theirs,
# other controls are not. Neither may hold the bidi embeddings, overrides and isolates that
# reorder the text after them wherever it is shown.

NOT_ONE_LINE = {
    "bell": "a\x07b",
    "escape": "a\x1b[2Jb",
    "c1-control": "a\x85b",
    "delete": "a\x7fb",
    "line-feed": "a\nb",
    "carriage-return": "a\rb",
    "tab": "a\tb",
    "line-separator": "a\u2028b",
    "paragraph-separator": "a\u2029b",
    "right-to-left-override": "a\u202eb",
    "left-to-right-embedding": "a\u202ab",
    "first-strong-isolate": "a\u2068b\u2069",
}
ONE_LINE_ERROR = "must be one line without control characters"


def invalid(*field: str, message: str) -> dict[str, Any]:
    return {"field": ["input", *field], "message": message, "code": "INVALID"}


@pytest.mark.parametrize("value", NOT_ONE_LINE.values(), ids=NOT_ONE_LINE)
async def test_titles_and_tags_refuse_control_characters_and_line_breaks(
    app: FastAPI, client: httpx.AsyncClient, value: str
) -> None:
    world = await make_world(client)
    before = await snapshot(app)
    created = await create_article_payload(client, world.token, title=value)
    assert created == {"article": None, "errors": [invalid("title", message=ONE_LINE_ERROR)]}
    tagged = await create_article_payload(client, world.token, tagList=["fine", value])
    assert tagged == {"article": None, "errors": [invalid("tagList", "1", message=ONE_LINE_ERROR)]}
    for change in ({"title": value}, {"tagList": [value]}):
        updated = await update_article_payload(client, world.token, slug=world.slug, **change)
        field = ("title",) if "title" in change else ("tagList", "0")
        assert updated == {"article": None, "errors": [invalid(*field, message=ONE_LINE_ERROR)]}
    assert await snapshot(app) == before


#: Prose is made of lines: its line breaks and tabs (those of Unicode included) are its own.
PROSE_SPACING = {"line-feed", "carriage-return", "tab", "line-separator", "paragraph-separator"}
NOT_PROSE = {name: value for name, value in NOT_ONE_LINE.items() if name not in PROSE_SPACING}
NOT_PROSE["c0-only"] = "\x01"
PROSE_ERROR = "must not contain control characters"


@pytest.mark.parametrize("value", NOT_PROSE.values(), ids=NOT_PROSE)
async def test_descriptions_bodies_and_comments_refuse_control_characters(
    app: FastAPI, client: httpx.AsyncClient, value: str
) -> None:
    world = await make_world(client)
    before = await snapshot(app)
    for field in ("description", "body"):
        created = await create_article_payload(client, world.token, **{field: value})
        assert created == {"article": None, "errors": [invalid(field, message=PROSE_ERROR)]}
        updated = await update_article_payload(client, world.token, slug=world.slug, **{field: value})
        assert updated == {"article": None, "errors": [invalid(field, message=PROSE_ERROR)]}
    commented = await add_comment_payload(client, world.token, world.slug, value)
    assert commented == {"comment": None, "errors": [invalid("body", message=PROSE_ERROR)]}
    assert await snapshot(app) == before


async def test_prose_keeps_tabs_line_breaks_and_direction_marks_as_given(client: httpx.AsyncClient) -> None:
    world = await make_world(client)
    prose = "  first line\r\n\tindented \u05e9\u05dc\u05d5\u05dd\u200f!\u2028next\u2029\n"
    article = await create_article(client, world.token, title="Prose", description=prose, body=prose)
    assert (article["description"], article["body"]) == (prose, prose)
    assert (await add_comment(client, world.token, article["slug"], prose))["body"] == prose


@pytest.mark.parametrize(
    "invisible", ["\u200b", "\u2060\u200b ", "\ufeff\n"], ids=["zwsp", "word-joiner", "bom"]
)
async def test_text_of_invisible_characters_only_is_blank(
    app: FastAPI, client: httpx.AsyncClient, invisible: str
) -> None:
    world = await make_world(client)
    before = await snapshot(app)
    for field in ("title", "description", "body"):
        created = await create_article_payload(client, world.token, **{field: invisible})
        assert created == {"article": None, "errors": [invalid(field, message="can't be blank")]}
    commented = await add_comment_payload(client, world.token, world.slug, invisible)
    assert commented == {"comment": None, "errors": [invalid("body", message="can't be blank")]}
    assert await snapshot(app) == before
    tagged = await create_article(client, world.token, title="Tags", tagList=[invisible, "kept"])
    assert tagged["tagList"] == ["kept"]


async def test_title_and_tag_bounds_hold_for_the_stripped_form_that_is_stored(
    client: httpx.AsyncClient,
) -> None:
    world = await make_world(client)
    article = await create_article(client, world.token, title=f"  {'t' * 255}  ", tagList=[f" {'g' * 64} "])
    assert (article["title"], article["tagList"]) == ("t" * 255, ["g" * 64])
    payload = await create_article_payload(client, world.token, title="t" * 256, tagList=["g" * 65])
    assert payload == {
        "article": None,
        "errors": [
            invalid("title", message="is too long (maximum is 255 characters)"),
            invalid("tagList", "0", message="is too long (maximum is 64 characters)"),
        ],
    }


# Page sizes, cursors and IDs, on every field that takes one (nested ones included).

PAGE_SIZES = reachable_arguments({"first", "last"})
CURSORS = reachable_arguments({"after", "before"})


def nested_operation(argument: NestedArgument, world: World, literal: str | None = None) -> str:
    """A query reaching `argument` along its path; required arguments on the way get ordinary
    values; the argument is `$v`, or `literal` written into the document."""
    schema = served_schema()
    parent: Any = schema.query_type
    opening = []
    for depth, name in enumerate(argument.fields):
        field = parent.fields[name]
        given = {
            arg_name: ordinary_value(name, arg_name, arg.type, world)
            for arg_name, arg in field.args.items()
            if isinstance(arg.type, GraphQLNonNull)
        }
        written = [f"{key}: {json.dumps(value)}" for key, value in given.items()]
        if depth == len(argument.fields) - 1:
            written.append(f"{argument.argument}: {literal if literal is not None else '$v'}")
        opening.append(f"{name}({', '.join(written)})" if written else name)
        parent = get_named_type(field.type)
    definition = "" if literal is not None else f"($v: {argument.type})"
    return f"query{definition} {{ {' { '.join(opening)} {{ __typename }}{' }' * (len(opening) - 1)} }}"


@pytest.mark.parametrize("argument", PAGE_SIZES, ids=str)
async def test_page_sizes_out_of_range_are_refused_on_every_list(
    client: httpx.AsyncClient, argument: NestedArgument
) -> None:
    world = await make_world(client)
    for size in (-1, 10**9, 2**31, 2**63, 2**64, -(2**63), 2**100):
        for query, variables in (
            (nested_operation(argument, world), {"v": size}),
            (nested_operation(argument, world, literal=str(size)), {}),
        ):
            body = handled(await send(client, query, variables, world.token))
            assert body.get("errors"), f"{size} was accepted: {query}"
    accepted = handled(await send(client, nested_operation(argument, world), {"v": 0}, world.token))
    assert "errors" not in accepted


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def url_b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


MALFORMED_CURSORS = {
    "garbage": "not a cursor!",
    "empty": "",
    "padding-only": "====",
    "nul": "\x00",
    "lone-surrogate": "\ud800",
    "not-utf8": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    "a-global-id": to_global_id("Article", 1),
    "no-separator": url_b64("2024-01-01T00:00:00+00:00"),
    "naive-time": url_b64("2024-01-01T00:00:00|1"),
    "negative-key": url_b64("2024-01-01T00:00:00+00:00|-1"),
    "huge-key": url_b64("2024-01-01T00:00:00+00:00|" + "9" * 30),
    "key-past-int32": url_b64(f"2024-01-01T00:00:00+00:00|{2**31}"),
    "key-past-int64": url_b64(f"2024-01-01T00:00:00+00:00|{2**63}"),
    "non-ascii-digits": url_b64("2024-01-01T00:00:00+00:00|١٢"),
    "year-zero": url_b64("0000-01-01T00:00:00+00:00|1"),
    "before-year-one-in-utc": url_b64("0001-01-01T00:00:00+01:00|1"),
    "after-9999-in-utc": url_b64("9999-12-31T23:59:59-01:00|1"),
    "huge": "A" * 100_000,
}
#: Well-formed cursors that point nowhere: an empty or ordinary page, no error.
EDGE_CURSORS = {
    "first-instant": url_b64("0001-01-01T00:00:00+00:00|0"),
    "last-instant": url_b64("9999-12-31T23:59:59.999999+00:00|1"),
    "largest-key": url_b64(f"2024-01-01T00:00:00+00:00|{2**31 - 1}"),
    "odd-offset": url_b64("2024-01-01T00:00:00+13:59|1"),
}


@pytest.mark.parametrize("argument", CURSORS, ids=str)
async def test_malformed_cursors_are_bad_user_input_on_every_connection(
    client: httpx.AsyncClient, argument: NestedArgument
) -> None:
    world = await make_world(client)
    query = nested_operation(argument, world)
    for name, cursor in MALFORMED_CURSORS.items():
        body = handled(await send(client, query, {"v": cursor}, world.token))
        codes = [error["extensions"]["code"] for error in body.get("errors", [])]
        assert codes == ["BAD_USER_INPUT"], f"{name}: {body}"
    for name, cursor in EDGE_CURSORS.items():
        body = handled(await send(client, query, {"v": cursor}, world.token))
        assert "errors" not in body, f"{name}: {body}"


MALFORMED_IDS = {
    "garbage": "not an id!",
    "empty": "",
    "raw-text": "User:1",
    "not-utf8": b64(b"\xff\xfe"),
    "unknown-type": b64("Tag:1"),
    "no-type": b64(":1"),
    "no-key": b64("User:"),
    "negative-key": b64("User:-1"),
    "huge-key": b64("User:" + "9" * 30),
    "key-past-int32": b64(f"Comment:{2**31}"),
    "key-of-18-digits": b64(f"User:{10**17}"),
    "key-past-int64": b64(f"Comment:{2**63}"),
    "largest-key": b64(f"Article:{2**31 - 1}"),
    "a-cursor": url_b64("2024-01-01T00:00:00+00:00|1"),
    "nul": b64("User:1\x00"),
    "lone-surrogate": "\ud800",
}
ID_SLOTS = [slot for slot in SLOTS if slot.scalar == "ID"]


@pytest.mark.parametrize("slot", ID_SLOTS, ids=str)
async def test_malformed_global_ids_find_nothing_and_fail_cleanly(
    app: FastAPI, client: httpx.AsyncClient, slot: Slot
) -> None:
    world = await make_world(client)
    query = operation_for(slot.operation, slot.field)
    before = await snapshot(app)
    for name, global_id in MALFORMED_IDS.items():
        value = [global_id] if slot.is_list else global_id
        body = handled(await send(client, query, variables_for(slot, value, world), world.token))
        assert await snapshot(app) == before, f"{name}: something changed"
        assert found_ids(body.get("data")) == [], f"{name} found something: {body}"
        payload = (body.get("data") or {}).get(slot.field)
        if isinstance(payload, dict) and "errors" in payload:
            assert payload["errors"], f"{name} was accepted: {body}"
