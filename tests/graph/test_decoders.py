"""Properties of what decodes client input: cursors, global IDs and page windows.

Whatever a client sends, a decoder answers with a value the database can take or with
`BadUserInput` (which reaches the client as BAD_USER_INPUT) — never another exception, which
would be a masked 500. And what the server encodes, it decodes back to the same value.
Derandomized, so every run tries the same examples.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from graph.errors import BadUserInput
from graph.node import MAX_PK, from_global_id, to_global_id
from graph.pagination import MAX_PAGE_SIZE, decode_cursor, encode_cursor, window

deterministic = settings(derandomize=True, database=None, max_examples=300, deadline=None)

offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
#: Instants the database can hold, in any offset (a day inside Python's range, so UTC fits).
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.one_of(st.just(UTC), offsets)
)
ids = st.integers(min_value=0, max_value=MAX_PK)


def url_b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()


#: Client strings: garbage, base64 of garbage, and base64 of look-alikes of real cursors.
cursor_like = st.one_of(
    st.text(),
    st.binary().map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    st.builds(lambda moment, pk: url_b64(f"{moment}|{pk}"), st.text(max_size=40), st.text(max_size=30)),
    st.builds(
        lambda moment, pk: url_b64(f"{moment.isoformat()}|{pk}"),
        st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), offsets)),
        st.one_of(st.integers(), st.integers().map(lambda n: f"{n:_}"), st.text(max_size=5)),
    ),
)


@deterministic
@given(moment=instants, pk=ids)
def test_a_cursor_decodes_to_the_key_it_encodes(moment: datetime, pk: int) -> None:
    decoded = decode_cursor(encode_cursor((moment, pk)))
    assert decoded == (moment, pk)
    assert decoded[0].tzinfo is UTC


@deterministic
@given(cursor=cursor_like)
def test_any_cursor_is_a_key_the_database_can_take_or_bad_user_input(cursor: str) -> None:
    try:
        moment, pk = decode_cursor(cursor)
    except BadUserInput:
        return
    assert moment.tzinfo is UTC
    assert 0 <= pk <= MAX_PK


type_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
node_ids = st.integers(min_value=0, max_value=MAX_PK)

id_like = st.one_of(
    st.text(),
    st.binary().map(lambda raw: base64.b64encode(raw).decode()),
    st.builds(
        lambda name, pk: base64.b64encode(f"{name}:{pk}".encode("utf-8", "surrogatepass")).decode(),
        st.one_of(type_names, st.text(max_size=10)),
        st.one_of(st.integers(), st.text(max_size=25)),
    ),
)


@deterministic
@given(type_name=type_names, pk=node_ids)
def test_a_global_id_decodes_to_what_it_encodes(type_name: str, pk: int) -> None:
    assert from_global_id(to_global_id(type_name, pk)) == (type_name, pk)


@deterministic
@given(global_id=id_like)
def test_any_global_id_names_a_storable_key_or_nothing_or_is_bad_user_input(global_id: str) -> None:
    try:
        decoded = from_global_id(global_id)
    except BadUserInput:
        return
    if decoded is not None:
        type_name, pk = decoded
        assert isinstance(type_name, str)
        assert 0 <= pk <= MAX_PK


sizes = st.one_of(st.none(), st.integers(), st.integers(min_value=-1, max_value=MAX_PAGE_SIZE + 1))


@deterministic
@given(
    first=sizes, last=sizes, after=st.one_of(st.none(), cursor_like), before=st.one_of(st.none(), cursor_like)
)
def test_any_page_arguments_give_a_bounded_window_or_bad_user_input(
    first: int | None, last: int | None, after: str | None, before: str | None
) -> None:
    try:
        found = window(first, after, last, before)
    except BadUserInput:
        return
    assert 0 <= found.limit <= MAX_PAGE_SIZE
