"""The npm graphql-ws client against real uvicorn processes.

On PostgreSQL the subscriber is on one server (two uvicorn workers) and the comments are
added through another server process: every comment crosses processes through
NOTIFY/LISTEN. On SQLite (one process by design) one server does both.
"""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest

from db.settings import Settings
from tests.support.servers import CLIENT, npm_ci, serving_process

pytestmark = pytest.mark.node

COMMENTS = 20


def test_graphql_ws_client_receives_every_comment_in_order_exactly_once(settings: Settings) -> None:
    npm_ci()
    with contextlib.ExitStack() as servers:
        if settings.is_sqlite:
            subscriber_base = mutations_base = servers.enter_context(serving_process(settings.database_url))
        else:
            subscriber_base = servers.enter_context(serving_process(settings.database_url, workers=2))
            mutations_base = servers.enter_context(serving_process(settings.database_url))
            assert subscriber_base != mutations_base
        ws_url = subscriber_base.replace("http://", "ws://") + "/graphql"
        finished = subprocess.run(
            ["node", "subscribe.mjs", ws_url, f"{mutations_base}/graphql", str(COMMENTS)],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert len(result["sent"]) == COMMENTS
    assert [c["id"] for c in result["received"]] == result["sent"]
    assert [c["body"] for c in result["received"]] == [f"comment {n}" for n in range(COMMENTS)]
    assert {c["article"]["slug"] for c in result["received"]} == {result["slug"]}
