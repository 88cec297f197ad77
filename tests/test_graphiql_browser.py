"""GraphiQL in a real browser with no internet: headless Chromium, every request that leaves
this machine refused, loads the IDE from the app's own static files and runs a query."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from db.settings import Settings
from tests.support.servers import CLIENT, npm_ci, serving_process

pytestmark = [pytest.mark.node, pytest.mark.browser]

REGISTER = "mutation R($input: RegisterInput!) { register(input: $input) { token } }"
CREATE = "mutation C($input: CreateArticleInput!) { createArticle(input: $input) { article { slug } } }"


def test_graphiql_runs_a_query_in_headless_chromium_offline(settings: Settings) -> None:
    npm_ci()
    with serving_process(settings.database_url) as base:
        with httpx.Client(base_url=base) as http:
            name = f"browser{abs(hash(base)) % 10**8}"
            account = {"username": name, "email": f"{name}@example.com", "password": "password123"}
            token = http.post("/graphql", json={"query": REGISTER, "variables": {"input": account}})
            headers = {"Authorization": f"Bearer {token.json()['data']['register']['token']}"}
            article = {"title": f"Seen in GraphiQL {name}", "description": "d", "body": "b"}
            created = http.post(
                "/graphql", json={"query": CREATE, "variables": {"input": article}}, headers=headers
            )
            slug = created.json()["data"]["createArticle"]["article"]["slug"]
            page = http.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert "unpkg.com" not in page.text and "jsdelivr" not in page.text
        query = f'{{ article(slug: "{slug}") {{ title author {{ username }} }} }}'
        finished = subprocess.run(
            ["node", "graphiql.mjs", f"{base}/graphql", query],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    assert finished.returncode == 0, finished.stderr
    seen = json.loads(finished.stdout.strip().splitlines()[-1])
    assert seen["refused"] == [], "the page tried to load from the internet"
    assert "/static/graphiql/graphiql.min.js" in seen["loaded"]
    assert f'"title": "Seen in GraphiQL {name}"' in seen["result"]
    assert f'"username": "{name}"' in seen["result"]
    assert seen["consoleErrors"] == []
