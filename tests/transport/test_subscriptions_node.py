"""The npm graphql-ws client against real uvicorn processes.

On PostgreSQL the subscriber is on one server (two uvicorn workers) and the comments are
added through another server process: every comment crosses processes through
NOTIFY/LISTEN. On SQLite (one process by design) one server does both.
"""

from __future__ import annotations

import contextlib

import pytest

from db.settings import Settings
from tests.support.servers import npm_ci, serving_process, subscribe_and_comment

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
        result = subscribe_and_comment(subscriber_base, mutations_base, COMMENTS)
    assert len(result["sent"]) == COMMENTS
    assert [c["id"] for c in result["received"]] == result["sent"]
    assert [c["body"] for c in result["received"]] == [f"comment {n}" for n in range(COMMENTS)]
    assert {c["article"]["slug"] for c in result["received"]} == {result["slug"]}
