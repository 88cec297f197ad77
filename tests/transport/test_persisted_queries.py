"""Automatic persisted queries (Apollo's protocol) over HTTP, on the lane and the general path.

A hash alone that the server does not know is PERSISTED_QUERY_NOT_FOUND (200, as Apollo Server
answers); the hash with its text registers it, in the database; then the hash alone runs it, in
any process, after a restart too. The store is bounded, and a GET answered from a hash may be
cached when PERSISTED_QUERY_CACHE_CONTROL says so, never when signed in.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from db.settings import Settings
from tests.execution.test_lane import count_general_path
from tests.support.factories import count_rows
from tests.support.gql import register
from tests.support.served import served

QUERY = "query Tags { tags(first: 5) { name } }"
MUTATION = 'mutation Follow { followUser(username: "nobody") { errors { code } } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str, digest: str | None = None, version: object = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest or sha256(text)}}


async def post(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers)


async def get(client: httpx.AsyncClient, extensions: dict[str, Any], **headers: str) -> httpx.Response:
    params = {"extensions": json.dumps(extensions), "operationName": "Tags"}
    return await client.get("/graphql", params=params, headers={"accept": "application/json", **headers})


def code(response: httpx.Response) -> str:
    codes: list[str] = [error["extensions"]["code"] for error in response.json()["errors"]]
    assert len(codes) == 1, response.text
    return codes[0]


async def test_an_unknown_hash_is_not_found_then_registered_then_runs_alone(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    extensions = persisted(QUERY)
    for accept in ("application/json", "application/graphql-response+json"):
        missed = await post(client, {"extensions": extensions}, accept=accept)
        assert missed.status_code == 200  # as Apollo Server: the link then retries with the query
        assert code(missed) == "PERSISTED_QUERY_NOT_FOUND"
        assert missed.json()["errors"][0]["message"] == "PersistedQueryNotFound"
        assert missed.headers["cache-control"] == "no-store"
    missed = await get(client, extensions)
    assert (missed.status_code, code(missed)) == (200, "PERSISTED_QUERY_NOT_FOUND")

    registered = await post(client, {"query": QUERY, "extensions": extensions})
    assert registered.json()["data"] == {"tags": []}
    assert await count_rows(app, "persisted_documents") == 1

    by_post = await post(client, {"extensions": extensions, "operationName": "Tags"})
    assert by_post.json()["data"] == {"tags": []}
    by_get = await get(client, extensions)
    assert by_get.status_code == 200
    assert by_get.json()["data"] == {"tags": []}
    assert "cache-control" not in by_get.headers  # PERSISTED_QUERY_CACHE_CONTROL is empty by default


async def test_a_hash_alone_is_served_by_the_query_lane(app: FastAPI, client: httpx.AsyncClient) -> None:
    extensions = persisted(QUERY)
    await post(client, {"query": QUERY, "extensions": extensions})
    general: list[str] = []
    count_general_path(app, general)
    answered = await post(client, {"extensions": extensions})
    assert answered.json()["data"] == {"tags": []}
    assert general == []
    missed = await post(client, {"extensions": persisted("{ __typename }")})
    assert code(missed) == "PERSISTED_QUERY_NOT_FOUND"
    assert general == ["POST"]  # a refusal is the general path's to word


async def test_a_hash_that_is_not_the_querys_is_refused_and_not_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    wrong = await post(client, {"query": QUERY, "extensions": persisted(QUERY, digest="ab" * 32)})
    assert (wrong.status_code, code(wrong)) == (400, "PERSISTED_QUERY_HASH_MISMATCH")
    assert await count_rows(app, "persisted_documents") == 0


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
async def test_only_version_1_is_supported(client: httpx.AsyncClient, version: object) -> None:
    refused = await post(client, {"query": QUERY, "extensions": persisted(QUERY, version=version)})
    assert (refused.status_code, code(refused)) == (400, "PERSISTED_QUERY_NOT_SUPPORTED")


@pytest.mark.parametrize(
    "extension",
    [
        "abc",
        [],
        {"version": 1},
        {"version": 1, "sha256Hash": 5},
        {"version": 1, "sha256Hash": "a" * 63},
        {"version": 1, "sha256Hash": "g" * 64},
    ],
)
async def test_a_malformed_persisted_query_is_a_bad_request(
    client: httpx.AsyncClient, extension: object
) -> None:
    for body in (
        {"extensions": {"persistedQuery": extension}},
        {"query": QUERY, "extensions": {"persistedQuery": extension}},
    ):
        refused = await post(client, body)
        assert (refused.status_code, code(refused)) == (400, "BAD_REQUEST")


async def test_a_document_id_names_a_document_as_the_spec_draft_has_it(client: httpx.AsyncClient) -> None:
    await post(client, {"query": QUERY, "extensions": persisted(QUERY)})
    for document_id in (sha256(QUERY), f"sha256:{sha256(QUERY)}"):
        answered = await post(client, {"documentId": document_id})
        assert answered.json()["data"] == {"tags": []}
        by_get = await client.get("/graphql", params={"documentId": document_id})
        assert by_get.json()["data"] == {"tags": []}
    missed = await post(client, {"documentId": "nothing"})
    assert code(missed) == "PERSISTED_QUERY_NOT_FOUND"
    both = await post(client, {"documentId": sha256(QUERY), "query": QUERY})
    assert (both.status_code, code(both)) == (400, "BAD_REQUEST")


async def test_mutations_persist_over_post_and_stay_refused_over_get(client: httpx.AsyncClient) -> None:
    token = await register(client, "persister")
    extensions = persisted(MUTATION)
    auth = {"authorization": f"Bearer {token}"}
    first = await post(client, {"query": MUTATION, "extensions": extensions}, **auth)
    assert first.json()["data"] == {"followUser": {"errors": [{"code": "NOT_FOUND"}]}}
    again = await post(client, {"extensions": extensions}, **auth)
    assert again.json()["data"] == first.json()["data"]
    over_get = await client.get("/graphql", params={"extensions": json.dumps(extensions)}, headers=auth)
    assert (over_get.status_code, code(over_get)) == (400, "BAD_REQUEST")  # as any mutation over GET


async def test_a_get_from_a_known_hash_is_cacheable_when_set_and_anonymous(
    app: FastAPI, settings: Settings
) -> None:
    cache_control = "public, max-age=300"
    async with served(settings.database_url, persisted_query_cache_control=cache_control) as client:
        extensions = persisted(QUERY)
        await post(client, {"query": QUERY, "extensions": extensions})
        answered = await get(client, extensions)
        assert answered.json()["data"] == {"tags": []}
        assert answered.headers["cache-control"] == cache_control
        assert "Authorization" in answered.headers["vary"]
        token = await register(client, "cached")
        signed_in = await get(client, extensions, authorization=f"Bearer {token}")
        assert signed_in.json()["data"] == {"tags": []}
        assert "cache-control" not in signed_in.headers
        by_post = await post(client, {"extensions": extensions})
        assert "cache-control" not in by_post.headers
        failing = "query Tags { tags(first: 500) { name } }"  # a page size past 100: an error
        await post(client, {"query": failing, "extensions": persisted(failing)})
        errors = await get(client, persisted(failing))
        assert errors.json()["errors"]
        assert "cache-control" not in errors.headers
        missed = await get(client, persisted("{ __typename }"))
        assert missed.headers["cache-control"] == "no-store"


async def test_registered_documents_survive_a_restart(app: FastAPI, settings: Settings) -> None:
    extensions = persisted(QUERY)
    async with served(settings.database_url) as client:
        await post(client, {"query": QUERY, "extensions": extensions})
    async with served(settings.database_url) as client:  # a new process: an empty cache
        answered = await post(client, {"extensions": extensions})
        assert answered.json()["data"] == {"tags": []}


async def test_the_store_keeps_the_most_recently_used_documents(app: FastAPI, settings: Settings) -> None:
    texts = [f"query Q{n} {{ __typename }}" for n in range(5)]
    async with served(settings.database_url, persisted_queries_max=3) as client:
        for text in texts:
            answered = await post(client, {"query": text, "extensions": persisted(text)})
            assert answered.json()["data"] == {"__typename": "Query"}
    assert await count_rows(app, "persisted_documents") == 3
    async with served(settings.database_url, persisted_queries_max=3) as client:
        found = [
            code(r) if "errors" in r.json() else "ran"
            for r in [await post(client, {"extensions": persisted(text)}) for text in texts]
        ]
    assert found == ["PERSISTED_QUERY_NOT_FOUND"] * 2 + ["ran"] * 3


async def test_a_document_past_the_token_limit_is_not_stored(app: FastAPI, settings: Settings) -> None:
    huge = "query Big { " + " ".join(f"a{n}: __typename" for n in range(20)) + " }"
    async with served(settings.database_url, max_query_tokens=20) as client:
        refused = await post(client, {"query": huge, "extensions": persisted(huge)})
        assert code(refused) == "QUERY_TOO_COMPLEX"
    assert await count_rows(app, "persisted_documents") == 0
