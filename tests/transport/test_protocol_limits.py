"""What the server as deployed answers before the app sees a request: uvicorn with
graph.transport.protocol's protocol (as `conduit serve` runs it), in a subprocess, over raw sockets.

Long query strings are served up to MAX_REQUEST_BYTES and refused with a JSON 413 past it
(httptools alone failed every URL past 65,535 bytes with a text/plain 400); heads past their
bounds get JSON 431/413; what httptools cannot parse gets a JSON 400; a body shorter than its
Content-Length waits no longer than REQUEST_TIMEOUT_SECONDS. These are protocol tests: nothing
reaches a table, so they run on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from db.migrate import upgrade
from tests.support.servers import serving_process

LIMIT = 1024 * 1024  # MAX_REQUEST_BYTES's default
TYPENAME_QUERY = quote("{ __typename }")


@dataclass
class Answer:
    status: int
    content_type: str
    body: Any


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('protocol') / 'conduit.db'}"
    upgrade(url)
    with serving_process(url, REQUEST_TIMEOUT_SECONDS="1", LOG_LEVEL="ERROR") as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


async def exchange(server: tuple[str, int], request: bytes, *, seconds: float = 20) -> list[Answer]:
    """Send `request` whole, then read every response until the server closes the connection
    (no half-close: uvicorn closes on the end of the stream, answered or not)."""
    reader, writer = await asyncio.open_connection(*server)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), seconds)
    finally:
        writer.close()
    return parse_answers(data)


def parse_answers(data: bytes) -> list[Answer]:
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
        length = int(headers.get("content-length", len(rest)))
        body, data = rest[:length], rest[length:]
        content_type = headers.get("content-type", "")
        parsed = json.loads(body) if content_type.startswith("application/json") else body.decode()
        answers.append(Answer(int(status_line.split()[1]), content_type, parsed))
    return answers


def get(query_string: bytes, headers: bytes = b"") -> bytes:
    return (
        b"GET /graphql?" + query_string + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"Connection: close\r\n\r\n"
    )


def query_of(size: int) -> bytes:
    """A query string of exactly `size` bytes whose query is `{ __typename }` and spaces."""
    prefix = b"query=" + TYPENAME_QUERY.encode()
    return prefix + b"+" * (size - len(prefix))


def refused(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


SERVED = {"data": {"__typename": "Query"}}
TOO_LARGE = refused(f"The request is larger than {LIMIT} bytes.", "PAYLOAD_TOO_LARGE")
HEADERS_TOO_LARGE = refused(
    "The request's headers are larger than 65536 bytes.", "REQUEST_HEADER_FIELDS_TOO_LARGE"
)
UNPARSED = refused("Invalid HTTP request received.", "BAD_REQUEST")


@pytest.mark.parametrize("size", [65_535, 65_536, 70_000, 500_000, LIMIT])
async def test_a_query_string_up_to_the_limit_is_served(server: tuple[str, int], size: int) -> None:
    [answer] = await exchange(server, get(query_of(size)))
    assert (answer.status, answer.content_type, answer.body) == (200, "application/json", SERVED)


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT + 5000, LIMIT + 20_000, 3 * LIMIT])
async def test_a_query_string_past_the_limit_is_a_json_413(server: tuple[str, int], size: int) -> None:
    """Within a path's allowance past the limit the app refuses it, beyond it the protocol: alike."""
    [answer] = await exchange(server, get(query_of(size)))
    assert (answer.status, answer.content_type, answer.body) == (413, "application/json", TOO_LARGE)


HEADS = {
    "one header of 100 KB": b"X-Big: " + b"a" * 100_000 + b"\r\n",
    "one header of 5 MB": b"X-Big: " + b"a" * 5_000_000 + b"\r\n",
    "an Authorization of 1 MB": b"Authorization: Bearer " + b"a" * LIMIT + b"\r\n",
    "100,000 small headers": b"".join(b"X-H%d: v\r\n" % n for n in range(100_000)),
}


@pytest.mark.parametrize("headers", list(HEADS.values()), ids=list(HEADS))
async def test_headers_past_their_bound_are_a_json_431(server: tuple[str, int], headers: bytes) -> None:
    [answer] = await exchange(server, get(b"query=" + TYPENAME_QUERY.encode(), headers))
    assert (answer.status, answer.content_type, answer.body) == (431, "application/json", HEADERS_TOO_LARGE)


async def test_headers_within_their_bound_are_served(server: tuple[str, int]) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 500) for n in range(100))
    [answer] = await exchange(server, get(b"query=" + TYPENAME_QUERY.encode(), headers))
    assert (answer.status, answer.body) == (200, SERVED)


BODY = b'{"query": "{ __typename }"}'
POST = b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
UNPARSEABLE = {
    "garbage": b"GARBAGE\r\n\r\n",
    "a NUL in the path": b"GET /gra\x00phql HTTP/1.1\r\nHost: t\r\n\r\n",
    "a header without a colon": b"GET /graphql HTTP/1.1\r\nHost t\r\n\r\n",
    "Content-Length not a number": POST + b"Content-Length: abc\r\n\r\n" + BODY,
    "Content-Length negative": POST + b"Content-Length: -5\r\n\r\n" + BODY,
    "two Content-Lengths": POST + b"Content-Length: 5\r\nContent-Length: 27\r\n\r\n" + BODY,
    "Content-Length and chunked (smuggling)": POST
    + b"Content-Length: 27\r\nTransfer-Encoding: chunked\r\n\r\n"
    + BODY,
    "chunks that lie": POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + BODY + b"\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", list(UNPARSEABLE.values()), ids=list(UNPARSEABLE))
async def test_a_request_httptools_cannot_parse_is_a_json_400(
    server: tuple[str, int], request_bytes: bytes
) -> None:
    [answer] = await exchange(server, request_bytes)
    assert (answer.status, answer.content_type, answer.body) == (400, "application/json", UNPARSED)


async def test_a_content_length_shorter_than_the_body_is_a_bad_request(server: tuple[str, int]) -> None:
    """The body is cut where its length says (not JSON: 400), and what follows is no request
    (400, and the connection closed, which may come first and drop the other answer)."""
    answers = await exchange(server, POST + b"Content-Length: 12\r\n\r\n" + BODY + b"\r\n\r\n")
    cut = refused("Unable to parse request body as JSON", "BAD_REQUEST")
    assert answers and answers[-1].body == UNPARSED
    assert all((answer.status, answer.content_type) == (400, "application/json") for answer in answers)
    assert all(answer.body in (cut, UNPARSED) for answer in answers)


async def test_a_body_shorter_than_its_content_length_waits_no_longer_than_the_deadline(
    server: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*server)
    started = time.monotonic()
    try:
        writer.write(POST + b"Content-Length: 500\r\n\r\n" + BODY)  # and never the rest
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
        elapsed = time.monotonic() - started
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 504 ")
    assert elapsed < 10  # REQUEST_TIMEOUT_SECONDS=1, not the client's patience


@pytest.mark.parametrize(
    "head",
    [b"", b"GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: t\r\n"],
    ids=["a connection that sends nothing", "a head that never ends"],
)
async def test_a_request_that_does_not_arrive_is_a_json_408_within_the_deadline(
    server: tuple[str, int], head: bytes
) -> None:
    """uvicorn alone held such a connection open forever (it bounds only keep-alive idling)."""
    started = time.monotonic()
    [answer] = await exchange(server, head, seconds=15)
    elapsed = time.monotonic() - started
    timed_out = refused("The request did not arrive within 1 s.", "REQUEST_TIMEOUT")
    assert (answer.status, answer.content_type, answer.body) == (408, "application/json", timed_out)
    assert elapsed < 10  # REQUEST_TIMEOUT_SECONDS=1


async def test_a_slow_but_steady_client_is_served(server: tuple[str, int]) -> None:
    """The head's bound is its whole arrival, not a pause: a head sent in pieces within it is served."""
    reader, writer = await asyncio.open_connection(*server)
    try:
        for piece in (
            b"GET /graphql?query=%7B__typename%7D HTTP/1.1\r\n",
            b"Host: t\r\n",
            b"Connection: close\r\n\r\n",
        ):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.1)
        [answer] = parse_answers(await asyncio.wait_for(reader.read(-1), 15))
    finally:
        writer.close()
    assert (answer.status, answer.body) == (200, SERVED)
