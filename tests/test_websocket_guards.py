"""Over WebSocket as over HTTP: the operation limits, the token rules and error masking.

A refused subscription never starts: no listener is registered, nothing is read. Both
protocols are checked (graphql-transport-ws and the legacy graphql-ws).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed

import db.comments
from db.settings import Settings
from graph.app import create_app
from tests.conftest import settings_for
from tests.servers import serving_in_loop
from tests.test_subscriptions import TransportWs, add_comment, article_by, eventually, open_socket

LIMITS = {"max_query_cost": 50, "max_query_depth": 8, "max_query_aliases": 2, "max_query_tokens": 80}
# One comment's article, its comments and their authors: 10 + 10 * 5 rows for each event.
COSTLY = """
subscription Costly($slug: String!) {
  commentAdded(articleSlug: $slug) {
    article { comments(first: 10) { edges { node { author { articles(first: 5) { totalCount } } } } } }
  }
}
"""
DEEP = """
subscription Deep($slug: String!) {
  commentAdded(articleSlug: $slug) {
    article {
      author { favorites(first: 1) { edges { node { author { articles(first: 1) { totalCount } } } } } }
    }
  }
}
"""
ALIASED = (
    "subscription Aliased($slug: String!) { c: commentAdded(articleSlug: $slug) { a: id b: body d: id } }"
)
LONG = "subscription Long($slug: String!) { commentAdded(articleSlug: $slug) { " + "id " * 80 + "} }"
FITS = "subscription Fits($slug: String!) { commentAdded(articleSlug: $slug) { id body } }"
REFUSED = {
    "cost": (COSTLY, {"requested": 60, "limit": 50}),
    "depth": (DEEP, {"requested": 9, "limit": 8}),
    "aliases": (ALIASED, {"requested": 4, "limit": 2}),
}


@dataclass(frozen=True)
class Served:
    app: FastAPI
    address: str
    slug: str
    """An article's."""
    token: str
    """Its author's."""


@pytest.fixture
async def limited(app: FastAPI, settings: Settings) -> AsyncIterator[Served]:
    """An app with small limits, served, with an article (`app` only empties the tables)."""
    strict = create_app(settings_for(settings.database_url, **LIMITS))
    async with strict.router.lifespan_context(strict), serving_in_loop(strict) as address:
        transport = httpx.ASGITransport(app=strict)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            token, slug = await article_by(client, "writer")
        yield Served(strict, address, slug, token)


def listeners(app: FastAPI) -> int:
    return int(app.state.services.events.listener_count)


async def first_reply(address: str, protocol: str, query: str, slug: str) -> dict[str, Any]:
    """The server's first message about a subscription sent with `protocol`."""
    async with open_socket(address, protocol) as socket:
        ws = TransportWs(socket)
        await ws.init()
        start = "subscribe" if protocol == "graphql-transport-ws" else "start"
        await ws.send({"id": "1", "type": start, "payload": {"query": query, "variables": {"slug": slug}}})
        return await ws.receive()


@pytest.mark.parametrize("limit", list(REFUSED))
@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_subscription_over_a_limit_is_refused_before_it_starts(
    limited: Served, protocol: str, limit: str
) -> None:
    app, address, slug = limited.app, limited.address, limited.slug
    query, report = REFUSED[limit]
    message = await first_reply(address, protocol, query, slug)
    assert (message["type"], message["id"]) == ("error", "1")
    # graphql-transport-ws sends a list of errors, the legacy protocol a single one.
    [error] = message["payload"] if protocol == "graphql-transport-ws" else [message["payload"]]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", limit: report}
    assert listeners(app) == 0


async def test_a_subscription_over_the_token_limit_is_refused(limited: Served) -> None:
    app, address, slug = limited.app, limited.address, limited.slug
    # graphql-transport-ws closes the socket on a document that does not parse (4400, the
    # reason naming the limit); the legacy protocol answers with an error.
    with pytest.raises(ConnectionClosed) as closed:
        await first_reply(address, "graphql-transport-ws", LONG, slug)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert closed.value.rcvd.reason == "The document has more than 80 tokens, the limit."
    message = await first_reply(address, "graphql-ws", LONG, slug)
    assert message["type"] == "error"
    assert message["payload"]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "tokens": {"limit": 80}}
    assert listeners(app) == 0


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_subscription_within_the_limits_starts(limited: Served, protocol: str) -> None:
    app, address, slug = limited.app, limited.address, limited.slug
    async with open_socket(address, protocol) as socket:
        ws = TransportWs(socket)
        await ws.init()
        start = "subscribe" if protocol == "graphql-transport-ws" else "start"
        await ws.send({"id": "1", "type": start, "payload": {"query": FITS, "variables": {"slug": slug}}})
        await eventually(lambda: listeners(app) == 1, "the subscription to listen")


async def test_a_bad_token_in_the_upgrade_header_refuses_the_socket(
    limited: Served,
) -> None:
    app, address = limited.app, limited.address
    headers = {"Authorization": "Bearer not-a-token"}
    # Never served as anonymous: graphql-transport-ws closes with 4403 ...
    async with open_socket(address, additional_headers=headers) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(ConnectionClosed) as closed:
            await TransportWs(socket).receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # ... the legacy protocol answers connection_error, then closes.
    async with open_socket(address, "graphql-ws", additional_headers=headers) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        refusal = await TransportWs(socket).receive()
        assert refusal == {
            "type": "connection_error",
            "payload": {"message": "the token is invalid", "code": "UNAUTHENTICATED"},
        }
        with pytest.raises(ConnectionClosed):
            await TransportWs(socket).receive()
    # A valid token in the connection_init payload replaces the header's.
    async with open_socket(address, additional_headers=headers) as socket:
        await TransportWs(socket).init({"Authorization": f"Bearer {limited.token}"})
    assert listeners(app) == 0


async def test_an_unexpected_error_in_a_running_subscription_is_masked(
    limited: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app, address, slug = limited.app, limited.address, limited.slug

    async def explode(*_: Any, **__: Any) -> Any:
        raise KeyError("internal detail")

    async with open_socket(address) as socket:
        ws = TransportWs(socket)
        await ws.init()
        await ws.send(
            {"id": "1", "type": "subscribe", "payload": {"query": FITS, "variables": {"slug": slug}}}
        )
        await eventually(lambda: listeners(app) == 1, "the subscription to listen")
        monkeypatch.setattr(db.comments, "comments_by_id", explode)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            await add_comment(client, limited.token, slug, "hello")
        message = await ws.receive()
    assert message["type"] == "next", message
    [error] = message["payload"]["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "internal detail" not in json.dumps(message)
    logged = [r for r in caplog.records if error["extensions"]["errorId"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None
