"""The README's frontend tour runs as written: every operation, in order, with its variables,
on the level-wise executor and on plain graphql-core alike."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.settings import Settings
from tests.support.engines import settings_for
from tests.support.factories import gql

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```graphql\n(.*?)```\n```json\n(.*?)```", re.DOTALL)


@pytest.fixture(params=[True, False], ids=["level-wise", "graphql-core"])
def settings(migrated_url: str, request: pytest.FixtureRequest) -> Settings:
    """Batching off takes out the query lane and the level-wise executor (graph/app.py)."""
    return settings_for(migrated_url, dataloader_batching=request.param)


def tour_steps() -> list[tuple[str, dict[str, Any]]]:
    section = README.read_text().split("## A tour for frontend developers", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [(query, json.loads(variables)) for query, variables in _BLOCK.findall(section)]


async def test_the_readme_tour_runs_as_documented(client: httpx.AsyncClient) -> None:
    steps = tour_steps()
    assert [re.search(r"(?:mutation|query) (\w+)", q).group(1) for q, _ in steps] == [  # type: ignore[union-attr]
        "SignUp",
        "SignIn",
        "Me",
        "Write",
        "Write",
        "Latest",
    ]
    results = []
    token = None
    for query, variables in steps:
        result = await gql(client, query, variables, token)
        assert "errors" not in result, result
        results.append(result["data"])
        if "login" in result["data"]:
            token = result["data"]["login"]["token"]
    signed_up, signed_in, me, blank, written, latest = results
    assert signed_up["register"]["errors"] == []
    assert signed_up["register"]["viewer"] == {
        "email": "tourist@example.com",
        "user": {"username": "tourist"},
    }
    assert signed_in["login"]["errors"] == []
    assert me == {
        "viewer": {"email": "tourist@example.com", "user": {"username": "tourist", "following": False}}
    }
    assert blank == {
        "createArticle": {
            "article": None,
            "errors": [{"field": ["input", "title"], "message": "can't be blank", "code": "INVALID"}],
        }
    }
    assert written["createArticle"] == {
        "article": {"slug": "hello-conduit", "title": "Hello, Conduit", "tagList": ["intro", "hello"]},
        "errors": [],
    }
    page = latest["articles"]
    assert page["totalCount"] == 1
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["nodes"] == [
        {
            "slug": "hello-conduit",
            "title": "Hello, Conduit",
            "tagList": ["intro", "hello"],
            "favoritesCount": 0,
            "author": {"username": "tourist"},
        }
    ]
