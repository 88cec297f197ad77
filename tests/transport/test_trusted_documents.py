"""Trusted documents: a manifest of the operations a frontend was built with, and with
TRUSTED_DOCUMENTS_ONLY nothing else runs, over HTTP and WebSocket, refused before parsing.

The manifest comes from TRUSTED_DOCUMENTS_FILE or from `conduit trusted-documents load`, in the
`{id: document}` shape that GraphQL Code Generator's client preset and Relay both write.
tests/transport/test_persisted_documents_node.py makes one with the client preset itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from db.settings import Settings
from graph.app import create_app
from tests.support.engines import settings_for
from tests.support.factories import count_rows
from tests.support.served import served
from tests.support.servers import ROOT, serving_in_loop

TAGS = "query Tags { tags(first: 5) { name } }"
TYPENAME = "query Typename { __typename }"
RELAY_ID = "4f1c0a0b6ad2d1b8c5a2e0d6c9a7b3e1"  # Relay's ids are its own (an MD5 by default)
UNLISTED = "query Other { articles(first: 1) { totalCount } }"
SUBSCRIPTION = 'subscription Live { commentAdded(articleSlug: "x") { id } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def by_hash(text: str) -> dict[str, Any]:
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}}


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha256(TAGS): TAGS, RELAY_ID: TYPENAME}))
    return path


def code(response: httpx.Response) -> str:
    [error] = response.json()["errors"]
    return str(error["extensions"]["code"])


async def test_only_the_manifests_documents_run(app: FastAPI, settings: Settings, manifest: Path) -> None:
    options = {"trusted_documents_file": manifest, "trusted_documents_only": True}
    async with served(settings.database_url, **options) as client:
        listed = await client.post("/graphql", json=by_hash(TAGS))
        assert listed.json()["data"] == {"tags": []}
        over_get = await client.get(
            "/graphql", params={"extensions": json.dumps(by_hash(TAGS)["extensions"])}
        )
        assert over_get.json()["data"] == {"tags": []}
        relay = await client.post("/graphql", json={"documentId": RELAY_ID})
        assert relay.json()["data"] == {"__typename": "Query"}
        as_text = await client.post("/graphql", json={"query": TAGS})
        assert as_text.json()["data"] == {"tags": []}

        for refused in (
            {"query": UNLISTED},
            {"query": "{ this is not graphql"},  # refused before parsing: not a parse error
            by_hash(UNLISTED),
            {"query": UNLISTED, **by_hash(UNLISTED)},  # registering a new document
            {"documentId": "unknown"},
        ):
            response = await client.post("/graphql", json=refused)
            assert (response.status_code, code(response)) == (400, "TRUSTED_DOCUMENT_REQUIRED"), refused
    assert await count_rows(app, "persisted_documents") == 0


async def test_registered_documents_do_not_run_once_only_trusted_ones_may(
    app: FastAPI, settings: Settings
) -> None:
    async with served(settings.database_url) as client:
        registered = await client.post("/graphql", json={"query": UNLISTED, **by_hash(UNLISTED)})
        assert registered.json()["data"] == {"articles": {"totalCount": 0}}
    async with served(settings.database_url, trusted_documents_only=True) as client:
        response = await client.post("/graphql", json=by_hash(UNLISTED))
        assert code(response) == "TRUSTED_DOCUMENT_REQUIRED"


async def test_trusted_documents_and_automatic_persisted_queries_coexist(
    app: FastAPI, settings: Settings, manifest: Path
) -> None:
    async with served(settings.database_url, trusted_documents_file=manifest) as client:
        listed = await client.post("/graphql", json=by_hash(TAGS))
        assert listed.json()["data"] == {"tags": []}
        missed = await client.post("/graphql", json=by_hash(UNLISTED))
        assert code(missed) == "PERSISTED_QUERY_NOT_FOUND"
        registered = await client.post("/graphql", json={"query": UNLISTED, **by_hash(UNLISTED)})
        assert registered.json()["data"] == {"articles": {"totalCount": 0}}
        anything = await client.post("/graphql", json={"query": "{ __typename }"})
        assert anything.json()["data"] == {"__typename": "Query"}


async def test_websocket_operations_are_held_to_the_manifest(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({sha256(SUBSCRIPTION): SUBSCRIPTION}))
    app = create_app(
        settings_for(settings.database_url, trusted_documents_file=path, trusted_documents_only=True)
    )
    async with app.router.lifespan_context(app), serving_in_loop(app) as address:
        socket = connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        async with socket as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            unlisted = 'subscription Other { commentAdded(articleSlug: "y") { id } }'
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": unlisted}}))
            refused = json.loads(await ws.recv())
            assert refused["type"] == "error"
            assert refused["payload"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
            await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
            listed = json.loads(await ws.recv())  # runs: the article does not exist
            errors = listed["payload"] if listed["type"] == "error" else listed["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


def conduit(*arguments: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "test"}
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


async def test_the_conduit_command_loads_a_manifest_into_the_database(
    app: FastAPI, settings: Settings, manifest: Path, tmp_path: Path
) -> None:
    loaded = conduit("trusted-documents", "load", str(manifest), database_url=settings.database_url)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "2 trusted documents loaded (2 new)"
    again = conduit("trusted-documents", "load", str(manifest), database_url=settings.database_url)
    assert again.stdout.strip() == "2 trusted documents loaded (0 new)"
    async with served(settings.database_url, trusted_documents_only=True) as client:
        listed = await client.post("/graphql", json=by_hash(TAGS))
        assert listed.json()["data"] == {"tags": []}
        as_text = await client.post("/graphql", json={"query": TYPENAME})  # listed under a Relay id
        assert as_text.json()["data"] == {"__typename": "Query"}

    smaller = tmp_path / "persisted_queries.json"
    smaller.write_text(json.dumps({RELAY_ID: TYPENAME}))
    replaced = conduit(
        "trusted-documents", "load", "--replace", str(smaller), database_url=settings.database_url
    )
    assert replaced.returncode == 0, replaced.stderr
    assert await count_rows(app, "persisted_documents") == 1
    async with served(settings.database_url, trusted_documents_only=True) as client:
        gone = await client.post("/graphql", json=by_hash(TAGS))
        assert code(gone) == "TRUSTED_DOCUMENT_REQUIRED"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]", "a manifest is a JSON object"),
        ("{nope", "not a readable JSON file"),
        ('{"a": 5}', "is not id"),
        ('{"a": "{ oops"}', "document 'a' does not parse"),
    ],
)
def test_a_bad_manifest_is_refused_with_one_line(
    settings: Settings, tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = conduit("trusted-documents", "load", str(path), database_url=settings.database_url)
    assert result.returncode == 1
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_event_streams_run_only_the_manifests_documents_too(settings: Settings, manifest: Path) -> None:
    """GraphQL over SSE (/graphql/stream) reads its operation as /graphql does: an unlisted
    document is refused before any stream starts, a listed one runs by hash."""
    options = {"trusted_documents_file": manifest, "trusted_documents_only": True}
    headers = {"accept": "text/event-stream"}
    async with served(settings.database_url, **options) as client:
        refused = await client.post("/graphql/stream", json={"query": UNLISTED}, headers=headers)
        assert (refused.status_code, code(refused)) == (400, "TRUSTED_DOCUMENT_REQUIRED")
        listed = await client.post("/graphql/stream", json=by_hash(TAGS), headers=headers)
        assert listed.status_code == 200
        assert '"tags":[]' in listed.text
