"""Persisted documents with the clients frontends use, against live server processes.

- Apollo Client 4's persisted-queries link, over POST and over GET (`useGETForHashedQueries`):
  the first request of each query sends its hash alone and misses, the link retries with the
  text, and a second server process then answers the hash alone from the shared store.
- GraphQL Code Generator's client preset (`persistedDocuments: true`) writes the manifest of
  tests/client/*.graphql; `conduit trusted-documents load` stores it; with
  TRUSTED_DOCUMENTS_ONLY every listed operation runs by its hash and nothing else does.

tests/documents/ holds the npm packages (package.json and its lock) and the Apollo script.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from db.settings import Settings
from tests.support.servers import CLIENT, ROOT, npm_ci, serving_process
from tests.transport.test_trusted_documents import conduit

pytestmark = pytest.mark.node

DOCUMENTS = ROOT / "tests" / "documents"
REFUSALS = {"PERSISTED_QUERY_NOT_FOUND", "TRUSTED_DOCUMENT_REQUIRED", "PERSISTED_QUERY_HASH_MISMATCH"}


def _node(*arguments: str) -> str:
    finished = subprocess.run(
        ["node", *arguments], cwd=DOCUMENTS, capture_output=True, text=True, timeout=240, check=False
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("mode", ["post", "get"])
def test_apollos_persisted_queries_link_misses_retries_then_hits(
    app: FastAPI, settings: Settings, mode: str
) -> None:
    npm_ci(DOCUMENTS)
    with contextlib.ExitStack() as servers:
        first = servers.enter_context(serving_process(settings.database_url))
        second = servers.enter_context(serving_process(settings.database_url))
        report = json.loads(_node("apq.mjs", f"{first}/graphql", f"{second}/graphql", mode))
    hashed = "GET" if mode == "get" else "POST"
    miss = {
        "server": "first",
        "method": hashed,
        "hashOnly": True,
        "status": 200,
        "codes": ["PERSISTED_QUERY_NOT_FOUND"],
    }
    retry = {"server": "first", "method": "POST", "hashOnly": False, "status": 200, "codes": []}
    hit = {"server": "second", "method": hashed, "hashOnly": True, "status": 200, "codes": []}
    assert report["sent"] == [miss, retry] * 4 + [hit] * 4
    data = [result["data"] for result in report["results"]]
    assert data[:4] == data[4:]
    assert data[0] == {"tags": []}
    assert data[3] == {"__typename": "Query"}


def _client_preset_manifest(directory: Path) -> dict[str, str]:
    config = {
        "schema": str(ROOT / "schema.graphql"),
        "documents": [str(path) for path in sorted(CLIENT.glob("*.graphql"))],
        "generates": {
            f"{directory}/": {"preset": "client", "presetConfig": {"persistedDocuments": True}},
        },
    }
    (directory / "codegen.json").write_text(json.dumps(config))
    finished = subprocess.run(
        [
            str(DOCUMENTS / "node_modules" / ".bin" / "graphql-codegen"),
            "--config",
            str(directory / "codegen.json"),
        ],
        cwd=DOCUMENTS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    manifest: dict[str, str] = json.loads((directory / "persisted-documents.json").read_text())
    return manifest


def test_a_client_preset_manifest_is_all_that_runs(app: FastAPI, settings: Settings, tmp_path: Path) -> None:
    npm_ci(DOCUMENTS)
    manifest = _client_preset_manifest(tmp_path)
    assert len(manifest) == 20  # every operation of tests/client/*.graphql
    loaded = conduit(
        "trusted-documents",
        "load",
        str(tmp_path / "persisted-documents.json"),
        database_url=settings.database_url,
    )
    assert loaded.returncode == 0, loaded.stderr
    with serving_process(settings.database_url, TRUSTED_DOCUMENTS_ONLY="true") as base:
        answers: dict[str, Any] = {}
        for document_id, text in manifest.items():
            operation = re.search(r"\b(?:query|mutation|subscription) (\w+)", text)
            assert operation is not None, text
            digest = document_id.removeprefix("sha256:")
            body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
            answers[operation.group(1)] = httpx.post(f"{base}/graphql", json=body).json()
            by_id = httpx.post(
                f"{base}/graphql", json={"documentId": document_id}
            ).json()  # codegen's __meta__.hash
            assert by_id.get("data") == answers[operation.group(1)].get("data")
        assert len(answers) == 20
        codes = {
            name: [e["extensions"]["code"] for e in answer.get("errors", [])]
            for name, answer in answers.items()
        }
        assert {name: found for name, found in codes.items() if REFUSALS & set(found)} == {}
        # Without variables some fail on them (BAD_USER_INPUT), subscriptions are for the WebSocket
        # (BAD_REQUEST): refusals of the operation, not of the document.
        assert {code for found in codes.values() for code in found} <= {"BAD_USER_INPUT", "BAD_REQUEST"}
        assert answers["HomePageQuery"]["data"]["articles"]["totalCount"] == 0
        unlisted = httpx.post(f"{base}/graphql", json={"query": "{ __typename }"})
        assert unlisted.status_code == 400
        assert unlisted.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
        listed_text = next(iter(manifest.values()))
        edited = httpx.post(f"{base}/graphql", json={"query": listed_text + " "})  # not the listed text
        assert edited.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
