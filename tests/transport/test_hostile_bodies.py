"""Hostile bodies, headers and parameters on /graphql: a 4xx GraphQL error with a code, never a 500.

Every body goes to the query lane first (graph/execution/lane.py), which hands anything odd to the
general path (graph/transport/view.py): each case checks the answer, whoever gives it. The refusals
that need a socket (a lying Content-Length, a malformed request line) are in
tests/transport/test_protocol_limits.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed

from graph.transport.view import GRAPHQL_RESPONSE_JSON, JSON
from graph.transport.wire import deeper_than
from tests.support.gql import register
from tests.support.servers import serving_in_loop
from tests.transport.test_subscriptions import TransportWs, open_socket

TYPENAME = b'{"query": "{ __typename }"}'
SERVED = {"data": {"__typename": "Query"}}
PARSE = "Unable to parse request body as JSON"
NOT_AN_OBJECT = "The body must be a JSON object: {query, variables, operationName}."
DEPTH = 32  # MAX_VARIABLES_DEPTH's default


def nested(depth: int, inner: str = "1") -> str:
    """JSON arrays `depth` deep around `inner`."""
    return "[" * depth + inner + "]" * depth


def with_variables(variables: str, query: str = "{ __typename }") -> bytes:
    return (f'{{"query": {json.dumps(query)}, "variables": {variables}}}').encode()


def refused(message: str, code: str = "BAD_REQUEST") -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


# (name, body, extra headers, status, whole response)
CASES: list[tuple[str, bytes, dict[str, Any], int, dict[str, Any]]] = [
    ("null", b"null", {}, 400, refused(NOT_AN_OBJECT)),
    ("string", b'"x"', {}, 400, refused(NOT_AN_OBJECT)),
    ("number", b"42", {}, 400, refused(NOT_AN_OBJECT)),
    ("true", b"true", {}, 400, refused(NOT_AN_OBJECT)),
    ("empty list", b"[]", {}, 400, refused("Batching is not enabled")),
    ("a batch", b"[" + TYPENAME + b"]", {}, 400, refused("Batching is not enabled")),
    ("empty body", b"", {}, 400, refused(PARSE)),
    ("whitespace", b"  \n ", {}, 400, refused(PARSE)),
    ("truncated", TYPENAME[:-3], {}, 400, refused(PARSE)),
    ("trailing garbage", TYPENAME + b"}", {}, 400, refused(PARSE)),
    ("two objects", TYPENAME + TYPENAME, {}, 400, refused(PARSE)),
    ("not UTF-8", b'{"query":"{ __typename \xff }"}', {}, 400, refused(f"{PARSE}: the body is not UTF-8.")),
    ("UTF-16", TYPENAME.decode().encode("utf-16"), {}, 400, refused(f"{PARSE}: the body is not UTF-8.")),
    (
        "an encoded surrogate",
        b'{"query":"{ __typename }","x":"\xed\xa0\x80"}',
        {},
        400,
        refused(f"{PARSE}: the body is not UTF-8."),
    ),
    ("NaN", with_variables('{"x": NaN}'), {}, 400, refused(f"{PARSE}: NaN is not a JSON number.")),
    (
        "Infinity",
        with_variables('{"x": Infinity}'),
        {},
        400,
        refused(f"{PARSE}: Infinity is not a JSON number."),
    ),
    (
        "-Infinity",
        with_variables('{"x": -Infinity}'),
        {},
        400,
        refused(f"{PARSE}: -Infinity is not a JSON number."),
    ),
    (
        "1e999999",
        with_variables('{"x": 1e999999}'),
        {},
        400,
        refused(f"{PARSE}: the number 1e999999… is too large."),
    ),
    (
        "5000 digits",
        with_variables('{"x": %s}' % ("9" * 5000)),
        {},
        400,
        refused(f"{PARSE}: a number has too many digits."),
    ),
    (
        "variables 5000 deep",
        with_variables(f'{{"x": {nested(5000)}}}'),
        {},
        400,
        refused(f"{PARSE}: it nests too deeply."),
    ),
    (
        "objects 5000 deep",
        with_variables('{"a": ' * 5000 + "1" + "}" * 5000),
        {},
        400,
        refused(f"{PARSE}: it nests too deeply."),
    ),
    (
        "extensions 5000 deep",
        b'{"query": "{ __typename }", "extensions": {"x": %s}}' % nested(5000).encode(),
        {},
        400,
        refused(f"{PARSE}: it nests too deeply."),
    ),
    (
        "variables past the limit",
        with_variables(f'{{"x": {nested(DEPTH)}}}'),
        {},
        400,
        refused(f"The operation's `variables` nest deeper than {DEPTH} levels, the limit."),
    ),
    (
        "extensions past the limit",
        b'{"query": "{ __typename }", "extensions": {"x": %s}}' % nested(DEPTH).encode(),
        {},
        400,
        refused(f"The operation's `extensions` nest deeper than {DEPTH} levels, the limit."),
    ),
    ("variables at the limit", with_variables(f'{{"x": {nested(DEPTH - 1)}}}'), {}, 200, SERVED),
    (
        "query 42",
        b'{"query": 42}',
        {},
        400,
        refused("The GraphQL operation's `query` must be a string or null, if provided."),
    ),
    ("query null", b'{"query": null}', {}, 400, refused("No GraphQL query found in the request")),
    (
        "query an object",
        b'{"query": {"a": 1}}',
        {},
        400,
        refused("The GraphQL operation's `query` must be a string or null, if provided."),
    ),
    ("no query", b'{"variables": {}}', {}, 400, refused("No GraphQL query found in the request")),
    (
        "variables a string",
        with_variables('"x"'),
        {},
        400,
        refused("The GraphQL operation's `variables` must be an object or null, if provided."),
    ),
    (
        "variables a list",
        with_variables("[1]"),
        {},
        400,
        refused("The GraphQL operation's `variables` must be an object or null, if provided."),
    ),
    ("variables null", with_variables("null"), {}, 200, SERVED),
    (
        "operationName 5",
        b'{"query": "{ __typename }", "operationName": 5}',
        {},
        400,
        refused("The GraphQL operation's `operationName` must be a string or null, if provided."),
    ),
    (
        "operationName a list",
        b'{"query": "{ __typename }", "operationName": ["A"]}',
        {},
        400,
        refused("The GraphQL operation's `operationName` must be a string or null, if provided."),
    ),
    (
        "operationName names a fragment",
        b'{"query": "query A { ...F } fragment F on Query { __typename }", "operationName": "F"}',
        {},
        400,
        refused('Unknown operation named "F".'),
    ),
    (
        "operationName names nothing",
        b'{"query": "{ __typename }", "operationName": "B"}',
        {},
        400,
        refused('Unknown operation named "B".'),
    ),
    (
        "extensions a string",
        b'{"query": "{ __typename }", "extensions": "x"}',
        {},
        400,
        refused("The GraphQL operation's `extensions` must be an object or null, if provided."),
    ),
    # A Content-Length that is no number (as an ASGI server may pass it on; httptools refuses
    # it, tests/transport/test_protocol_limits.py): the body is read as it comes.
    ("Content-Length: superscript two", TYPENAME, {"Content-Length": b"\xb2"}, 200, SERVED),
    ("Content-Length: Arabic-Indic one", TYPENAME, {"Content-Length": "\u0661".encode()}, 200, SERVED),
    # Accepted, and answered alike by the lane and the general path:
    ("duplicate keys: the last wins", b'{"query": "{ nope }", "query": "{ __typename }"}', {}, 200, SERVED),
    ("byte order mark (RFC 8259 allows ignoring it)", b"\xef\xbb\xbf" + TYPENAME, {}, 200, SERVED),
    ("unknown keys are ignored", b'{"query": "{ __typename }", "id": 7}', {}, 200, SERVED),
    # Headers:
    (
        "charset latin-1",
        TYPENAME,
        {"Content-Type": "application/json; charset=latin-1"},
        415,
        refused("The body must be UTF-8 JSON, not 'latin-1'.", "UNSUPPORTED_MEDIA_TYPE"),
    ),
    (
        "charset utf-16",
        TYPENAME,
        {"Content-Type": "application/json; charset=UTF-16"},
        415,
        refused("The body must be UTF-8 JSON, not 'utf-16'.", "UNSUPPORTED_MEDIA_TYPE"),
    ),
    ("charset UTF-8, quoted", TYPENAME, {"Content-Type": 'application/json; charset="UTF-8"'}, 200, SERVED),
    ("charset utf8", TYPENAME, {"Content-Type": "application/json;charset=utf8"}, 200, SERVED),
    ("odd parameters", TYPENAME, {"Content-Type": "application/json; foo; =; ;;"}, 200, SERVED),
    # Media types are case-insensitive, but Strawberry compares them as written: refused, coded.
    (
        "upper-case media type",
        TYPENAME,
        {"Content-Type": "APPLICATION/JSON"},
        415,
        refused("Send the operation as application/json.", "UNSUPPORTED_MEDIA_TYPE"),
    ),
    (
        "no Content-Type",
        TYPENAME,
        {"Content-Type": ""},
        415,
        refused("Send the operation as application/json.", "UNSUPPORTED_MEDIA_TYPE"),
    ),
    (
        "a JSON-like media type",
        TYPENAME,
        {"Content-Type": "application/jsonx"},
        415,
        refused("Send the operation as application/json.", "UNSUPPORTED_MEDIA_TYPE"),
    ),
    (
        "text/plain",
        TYPENAME,
        {"Content-Type": "text/plain"},
        415,
        refused("Send the operation as application/json.", "UNSUPPORTED_MEDIA_TYPE"),
    ),
    (
        "gzip on a plain body",
        TYPENAME,
        {"Content-Encoding": "gzip"},
        415,
        refused("The body must not be compressed (no Content-Encoding).", "UNSUPPORTED_MEDIA_TYPE"),
    ),
    ("Content-Encoding identity", TYPENAME, {"Content-Encoding": "identity"}, 200, SERVED),
    (
        "Accept: nonsense",
        TYPENAME,
        {
            "Accept": ";;;q=,=,*/*;q=-1, "
            + ", ".join(f"application/graphql-response+json;q={q}" for q in ("1e999", "nan", "-1"))
        },
        200,
        SERVED,
    ),
    ("Accept: 10,000 ranges", TYPENAME, {"Accept": ", ".join(["text/html;q=0.1"] * 10_000)}, 200, SERVED),
    ("X-Request-ID: odd bytes", TYPENAME, {"X-Request-ID": b"\x7f" * 100 + b"\xc3\xa9\xff"}, 200, SERVED),
    (
        "Authorization: odd bytes",
        TYPENAME,
        {"Authorization": b"Bearer \x7f\xfe\xff"},
        200,
        refused("the token is invalid", "UNAUTHENTICATED") | {"data": None},
    ),
    (
        "Authorization: 100 KB",
        TYPENAME,
        {"Authorization": "Bearer " + "a." * 50_000},
        200,
        refused("the token is invalid", "UNAUTHENTICATED") | {"data": None},
    ),
    (
        "Authorization: no token",
        TYPENAME,
        {"Authorization": "Bearer"},
        200,
        refused("the Authorization header must be `Bearer <token>`", "UNAUTHENTICATED") | {"data": None},
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
async def test_a_hostile_body_gets_a_coded_4xx_never_a_500(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, Any], status: int, expected: dict[str, Any]
) -> None:
    sent = {"Content-Type": JSON, **headers}
    response = await client.post("/graphql", content=body, headers=sent)
    assert (response.status_code, response.json()) == (status, expected)
    assert response.headers["content-type"] == JSON


@pytest.mark.parametrize(
    ("body", "headers", "status", "expected"),
    [case[1:] for case in CASES if case[3] == 400],
    ids=[case[0] for case in CASES if case[3] == 400],
)
async def test_a_hostile_body_is_400_in_graphql_response_json_too(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, Any], status: int, expected: dict[str, Any]
) -> None:
    sent = {"Content-Type": JSON, "Accept": GRAPHQL_RESPONSE_JSON, **headers}
    response = await client.post("/graphql", content=body, headers=sent)
    assert (response.status_code, response.json()) == (status, expected)
    assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON


async def test_deep_variables_of_a_served_query_are_refused_by_the_lane_too(
    client: httpx.AsyncClient,
) -> None:
    """A query the lane serves (its plan cached) is still refused when its variables nest too deeply."""
    query = "query($n: Int) { tags(first: $n) { name } }"
    first = await client.post(
        "/graphql", content=with_variables('{"n": 1}', query), headers={"Content-Type": JSON}
    )
    assert first.json()["data"] == {"tags": []}
    deep = await client.post(
        "/graphql",
        content=with_variables(f'{{"n": 1, "x": {nested(DEPTH)}}}', query),
        headers={"Content-Type": JSON},
    )
    assert (deep.status_code, deep.json()) == (
        400,
        refused(f"The operation's `variables` nest deeper than {DEPTH} levels, the limit."),
    )


GET_CASES: list[tuple[str, dict[str, str] | list[tuple[str, str]], int, dict[str, Any]]] = [
    (
        "variables past the limit",
        {"query": "{ __typename }", "variables": f'{{"x": {nested(DEPTH)}}}'},
        400,
        refused(f"The operation's `variables` nest deeper than {DEPTH} levels, the limit."),
    ),
    (
        "variables 5000 deep",
        {"query": "{ __typename }", "variables": f'{{"x": {nested(5000)}}}'},
        400,
        refused(f"{PARSE}: it nests too deeply."),
    ),
    (
        "extensions past the limit",
        {"query": "{ __typename }", "extensions": f'{{"x": {nested(DEPTH)}}}'},
        400,
        refused(f"The operation's `extensions` nest deeper than {DEPTH} levels, the limit."),
    ),
    (
        "variables NaN",
        {"query": "{ __typename }", "variables": '{"x": NaN}'},
        400,
        refused(f"{PARSE}: NaN is not a JSON number."),
    ),
    ("variables not JSON", {"query": "{ __typename }", "variables": "{"}, 400, refused(PARSE)),
    (
        "variables a number",
        {"query": "{ __typename }", "variables": "5"},
        400,
        refused("The GraphQL operation's `variables` must be an object or null, if provided."),
    ),
    (
        "variables 5000 digits",
        {"query": "{ __typename }", "variables": '{"x": %s}' % ("9" * 5000)},
        400,
        refused(f"{PARSE}: a number has too many digits."),
    ),
    ("repeated query: the last wins", [("query", "{ nope }"), ("query", "{ __typename }")], 200, SERVED),
    (
        "repeated variables",
        [("query", "{ __typename }"), ("variables", "{"), ("variables", "{}")],
        200,
        SERVED,
    ),
    (
        "operationName names a fragment",
        {"query": "query A { ...F } fragment F on Query { __typename }", "operationName": "F"},
        400,
        refused('Unknown operation named "F".'),
    ),
    ("a NUL in the query", {"query": "{ __typename \x00 }"}, 200, None),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("params", "status", "expected"), [case[1:] for case in GET_CASES], ids=[case[0] for case in GET_CASES]
)
async def test_hostile_query_string_parameters_get_a_coded_4xx_never_a_500(
    client: httpx.AsyncClient, params: Any, status: int, expected: dict[str, Any] | None
) -> None:
    response = await client.get("/graphql", params=params, headers={"Accept": JSON})
    assert response.status_code == status, response.text
    if expected is None:  # a parse error, reported with its location
        assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    else:
        assert response.json() == expected


async def test_a_mutation_with_deep_variables_writes_nothing(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    mutation = "mutation($input: CreateArticleInput!) { createArticle(input: $input) { errors { code } } }"
    article = {"title": "t", "description": "d", "body": "b", "tagList": [nested(DEPTH)]}
    variables = json.dumps({"input": article}).replace(json.dumps(nested(DEPTH)), nested(DEPTH))
    response = await client.post(
        "/graphql",
        content=with_variables(variables, mutation),
        headers={"Content-Type": JSON, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json() == refused(
        f"The operation's `variables` nest deeper than {DEPTH} levels, the limit."
    )
    listed = await client.post("/graphql", json={"query": "{ articles(first: 1) { totalCount } }"})
    assert listed.json()["data"] == {"articles": {"totalCount": 0}}


@pytest.mark.parametrize(
    ("value", "limit", "deeper"),
    [
        (1, 1, False),
        ({}, 1, False),
        ({"a": []}, 1, True),
        ({"a": []}, 2, False),
        ([[[[]]]], 3, True),
        ([1, [2, [3]], {"a": {"b": 1}}], 3, False),
        (json.loads(nested(900)), 32, True),
    ],
)
def test_nesting_is_measured_without_recursion(value: object, limit: int, deeper: bool) -> None:
    assert deeper_than(value, limit) is deeper


# The same over a WebSocket: an operation's variables are measured before it runs (a payload of
# the wrong shape closes the socket: tests/transport/test_websocket_guards.py).

WS_DEEP = {"query": "{ __typename }", "variables": {"x": json.loads(nested(DEPTH))}}
WS_REFUSALS: list[tuple[str, object, str]] = [
    (
        "variables past the limit",
        WS_DEEP,
        f"The operation's `variables` nest deeper than {DEPTH} levels, the limit.",
    ),
]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize(
    ("payload", "message"), [case[1:] for case in WS_REFUSALS], ids=[case[0] for case in WS_REFUSALS]
)
async def test_a_hostile_websocket_operation_is_refused_before_it_runs(
    app: FastAPI, protocol: str, payload: object, message: str
) -> None:
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    async with serving_in_loop(app) as address, open_socket(address, protocol) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.send({"id": "1", "type": start, "payload": payload})
        reply = await ws.receive()
    error = {"message": message, "extensions": {"code": "BAD_REQUEST"}}
    assert reply == {"id": "1", "type": "error", "payload": [error] if start == "subscribe" else error}


@pytest.mark.parametrize("frame", ["null", "[]", '"x"', "5", "[" * 5000 + "]" * 5000, '{"x": NaN}'])
async def test_a_websocket_frame_that_is_no_json_object_closes_with_4400(app: FastAPI, frame: str) -> None:
    async with serving_in_loop(app) as address, open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await socket.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_of_repeated_authorization_headers_the_first_counts_on_both_paths(
    client: httpx.AsyncClient,
) -> None:
    """The lane and the general path read the same one (a refused token is never skipped for a
    later, valid one): here the first is bad, so the query (lane) and the mutation (general
    path) are both refused."""
    token = await register(client, "alice")
    headers = [
        ("Content-Type", JSON),
        ("Authorization", "Bearer forged"),
        ("Authorization", f"Bearer {token}"),
    ]
    for query in ("{ viewer { email } }", 'mutation { favoriteArticle(slug: "x") { errors { code } } }'):
        response = await client.post(
            "/graphql", content=json.dumps({"query": query}).encode(), headers=headers
        )
        assert response.json() == {
            "data": None,
            "errors": [{"message": "the token is invalid", "extensions": {"code": "UNAUTHENTICATED"}}],
        }
