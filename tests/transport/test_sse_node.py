"""The npm graphql-sse client against real uvicorn processes, in both of its modes.

On PostgreSQL the subscriber is on one server and the comments are added through another
server process: every comment crosses processes through NOTIFY/LISTEN, as for the WebSocket
(tests/transport/test_subscriptions_node.py). Distinct connections are served by two workers;
the single connection mode needs every request of its stream at one process (README
"Subscriptions"), so its server has one. On SQLite (one process by design) one server does both.
"""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest

from db.settings import Settings
from tests.support.servers import SSE_CLIENT, npm_ci, serving_process

pytestmark = pytest.mark.node

COMMENTS = 20
LIMIT = 3


def run_client(stream_url: str, mutations_url: str, count: int, mode: str) -> dict[str, object]:
    npm_ci(SSE_CLIENT)
    finished = subprocess.run(
        ["node", "subscribe.mjs", stream_url, mutations_url, str(count), mode],
        cwd=SSE_CLIENT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    result: dict[str, object] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("mode", ["distinct", "single"])
def test_graphql_sse_client_receives_every_comment_in_order_exactly_once(
    settings: Settings, mode: str
) -> None:
    with contextlib.ExitStack() as servers:
        if settings.is_sqlite:
            subscriber_base = mutations_base = servers.enter_context(serving_process(settings.database_url))
        else:
            workers = 2 if mode == "distinct" else 1
            subscriber_base = servers.enter_context(serving_process(settings.database_url, workers=workers))
            mutations_base = servers.enter_context(serving_process(settings.database_url))
            assert subscriber_base != mutations_base
        result = run_client(f"{subscriber_base}/graphql/stream", f"{mutations_base}/graphql", COMMENTS, mode)
    assert isinstance(result["sent"], list) and isinstance(result["received"], list)
    assert len(result["sent"]) == COMMENTS
    assert [c["id"] for c in result["received"]] == result["sent"]
    assert [c["body"] for c in result["received"]] == [f"comment {n}" for n in range(COMMENTS)]
    assert {c["article"]["slug"] for c in result["received"]} == {result["slug"]}


def test_graphql_sse_client_is_refused_as_a_websocket_client_would_be(settings: Settings) -> None:
    limits = {"WS_MAX_SUBSCRIPTIONS_PER_CONNECTION": str(LIMIT), "MAX_QUERY_DEPTH": "5"}
    with serving_process(settings.database_url, **limits) as base:
        refused = run_client(f"{base}/graphql/stream", f"{base}/graphql", LIMIT, "refusals")
    # A bad token: 401 before any stream, in both modes; never served as anonymous.
    assert refused["badToken"] == {"error": "Server responded with 401: Unauthorized"}
    assert refused["badTokenSingle"] == {"error": "Server responded with 401: Unauthorized"}
    # A page on another origin (WS_ALLOWED_ORIGINS is empty): 403.
    assert refused["otherOrigin"] == {"error": "Server responded with 403: Forbidden"}
    # Over a limit: refused before it runs, as an event (the protocol's way), coded as everywhere.
    too_deep = refused["tooDeep"]
    assert isinstance(too_deep, dict)
    assert [e["extensions"]["code"] for e in too_deep["next"]["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert refused["overLimit"] == {"next": {"errors": [{"message": "Subscription limit reached"}]}}
    assert refused["running"] == ["for the running ones"] * LIMIT
