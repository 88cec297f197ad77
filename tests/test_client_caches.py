"""Normalized client caches update themselves after every mutation (issue 15): the real Apollo
Client (InMemoryCache) and urql (graphcache), configured as README "Caches that update
themselves" shows (tests/caches/apollo-cache.mjs, urql-cache.mjs), against a live server.

For each mutation, tests/caches/run.mjs holds the pages a frontend would show in the client's
cache, sends the mutation through the client, then reads every page from the cache alone (one
request in all: the mutation's) and compares it with what the server now answers. The run
without the client's update functions shows what the payloads do alone: every mutation that
changes no list needs no client code, and the test sees the lists go stale without it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from db.settings import Settings
from graph.app import create_app
from graph.schema import create_schema
from tests.support.engines import empty_tables, settings_for
from tests.support.servers import CACHES, ROOT, npm_ci, serving_process

CLIENTS = ["apollo", "urql"]
CASES = [
    "favoriteArticle",
    "unfavoriteArticle",
    "followUser",
    "unfollowUser",
    "createArticle",
    "updateArticle",
    "deleteArticle",
    "addComment",
    "deleteComment",
    "updateViewer",
    "register",
    "login",
]
#: The mutations that add to or remove from a list (or sign in): the client code in the README.
NEED_CLIENT_CODE = {
    "favoriteArticle",
    "unfavoriteArticle",
    "createArticle",
    "deleteArticle",
    "addComment",
    "deleteComment",
    "register",
    "login",
}
WITHOUT_UPDATES = "--without-updates"
README = ROOT / "README.md"

Runs = dict[tuple[str, str | None], dict[str, list[str]]]


async def _empty(url: str) -> None:
    app = create_app(settings_for(url))
    async with app.router.lifespan_context(app):
        await empty_tables(app)


@pytest.fixture(scope="module")
def runs(migrated_url: str) -> Runs:
    """Every client, with and without its update functions, through every case: the problems
    of each case (none is a pass). Each run starts from empty tables, so that the home page's
    list is never full."""
    npm_ci(CACHES)
    found: Runs = {}
    with serving_process(migrated_url, LOG_LEVEL="WARNING") as base:
        for client in CLIENTS:
            for option in (None, WITHOUT_UPDATES):
                asyncio.run(_empty(migrated_url))
                command = ["node", "run.mjs", client, f"{base}/graphql", *([option] if option else [])]
                finished = subprocess.run(
                    command, cwd=CACHES, capture_output=True, text=True, timeout=240, check=False
                )
                assert finished.returncode == 0, finished.stderr
                lines = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
                found[(client, option)] = {line["case"]: line["problems"] for line in lines}
    return found


@pytest.mark.node
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("client", CLIENTS)
def test_the_cache_holds_what_the_server_answers_after_the_mutation(
    runs: Runs, client: str, case: str
) -> None:
    assert runs[(client, None)][case] == []


@pytest.mark.node
@pytest.mark.parametrize("client", CLIENTS)
def test_without_client_code_only_the_list_changes_go_stale(runs: Runs, client: str) -> None:
    """What the payloads carry is enough for every other mutation; and the comparison does see
    a stale cache."""
    stale = {case for case, problems in runs[(client, WITHOUT_UPDATES)].items() if problems}
    assert stale == NEED_CLIENT_CODE


def test_there_is_a_case_for_every_mutation() -> None:
    schema = create_schema(Settings())._schema
    assert schema.mutation_type is not None
    assert set(CASES) == set(schema.mutation_type.fields)


@pytest.mark.node
def test_the_cases_run_are_the_cases_listed(runs: Runs) -> None:
    for problems in runs.values():
        assert list(problems) == CASES


def _code(name: str) -> str:
    """The client code of tests/caches/`name`, without its header comment."""
    lines = (CACHES / name).read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("//"):
        lines.pop(0)
    return "".join(lines)


@pytest.mark.parametrize("name", ["apollo-cache.mjs", "urql-cache.mjs"])
def test_the_readme_shows_the_client_code_the_tests_run(name: str) -> None:
    section = README.read_text().split("### Caches that update themselves", 1)[1].split("\n## ", 1)[0]
    assert f"```js\n{_code(name)}```" in section
