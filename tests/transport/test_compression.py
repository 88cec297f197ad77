"""Compression: answers of COMPRESSION_MINIMUM_SIZE bytes or more come gzip'd (brotli where
offered), from the query lane and the general path alike; small ones as they are; GraphiQL's
files compressed once, with a content hash in their URLs and long-lived cache headers."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from db.settings import Settings
from graph.transport.graphiql import STATIC_URL
from tests.execution.test_lane import count_general_path
from tests.support.served import served

# Over 4 KB of JSON, every type's name and description (introspection is on outside production).
BIG = "query Types { __schema { types { name description } } }"
SMALL = "{ __typename }"


async def post(client: httpx.AsyncClient, query: str, encoding: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers={"accept-encoding": encoding})


async def test_big_answers_are_compressed_small_ones_not(app: FastAPI, client: httpx.AsyncClient) -> None:
    plain = await post(client, BIG, "identity")
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 2048
    assert "Accept-Encoding" in plain.headers["vary"]  # a cache must tell the answers apart
    general: list[str] = []
    count_general_path(app, general)
    for offered, expected in (("gzip", "gzip"), ("gzip, deflate, br", "br"), ("br;q=0, gzip", "gzip")):
        compressed = await post(client, BIG, offered)
        assert compressed.headers["content-encoding"] == expected, offered
        assert compressed.num_bytes_downloaded < len(plain.content) / 2
        assert compressed.content == plain.content  # httpx decodes both
    assert general == []  # the query lane answered, and its answers are compressed too
    over_get = await client.get("/graphql", params={"query": BIG}, headers={"accept-encoding": "gzip"})
    assert general == ["GET"]
    assert over_get.headers["content-encoding"] == "gzip"
    assert over_get.content == plain.content

    small = await post(client, SMALL, "gzip, br")
    assert "content-encoding" not in small.headers
    assert small.json() == {"data": {"__typename": "Query"}}


async def test_the_spec_media_type_is_compressed_too(client: httpx.AsyncClient) -> None:
    accept = {"accept": "application/graphql-response+json", "accept-encoding": "gzip"}
    response = await client.post("/graphql", json={"query": BIG}, headers=accept)
    assert response.headers["content-type"] == "application/graphql-response+json"
    assert response.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize(("minimum", "compressed"), [(0, False), (10, True), (100_000, False)])
async def test_the_minimum_size_is_a_setting(settings: Settings, minimum: int, compressed: bool) -> None:
    async with served(settings.database_url, compression_minimum_size=minimum) as client:
        response = await post(client, SMALL if minimum == 10 else BIG, "gzip")
        assert ("content-encoding" in response.headers) is compressed


async def test_graphiqls_files_are_compressed_and_cached_for_good(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html", "accept-encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    urls = re.findall(rf'"({STATIC_URL}/[\w.-]+\?v=[0-9a-f]{{16}})"', page.text)
    assert len(urls) == 4
    script = next(url for url in urls if "graphiql.min.js" in url)
    plain = await client.get(script, headers={"accept-encoding": "identity"})
    assert len(plain.content) > 3_000_000
    assert "content-encoding" not in plain.headers
    for offered, expected, at_most in (("gzip", "gzip", 800_000), ("gzip, deflate, br", "br", 700_000)):
        compressed = await client.get(script, headers={"accept-encoding": offered})
        assert compressed.headers["content-encoding"] == expected
        assert compressed.num_bytes_downloaded < at_most
        assert compressed.content == plain.content
        assert compressed.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert compressed.headers["vary"] == "Accept-Encoding"
    etag = plain.headers["etag"]
    unversioned = await client.get(script.split("?")[0], headers={"accept-encoding": "br"})
    assert unversioned.headers["cache-control"] == "no-cache"
    assert unversioned.headers["etag"] == etag
    revalidated = await client.get(script.split("?")[0], headers={"if-none-match": etag})
    assert (revalidated.status_code, revalidated.content) == (304, b"")
    head = await client.head(script, headers={"accept-encoding": "br"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(compressed.num_bytes_downloaded)
