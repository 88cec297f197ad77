"""Tokens signed with the real key whose subject is no user id: refused like forged ones.

`issue_token` writes the id as ASCII digits. A subject of other digits (`str.isdigit` takes
"²" and Arabic-Indic digits), signs, leading zeros, or an id past 32 bits must not reach `int()` nor a query
(PostgreSQL's integer parameter overflows): the whole request is UNAUTHENTICATED, over HTTP
and in a WebSocket's connection_init.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed

from db.settings import Settings
from graph.transport.view import GRAPHQL_RESPONSE_JSON
from tests.support.gql import register
from tests.support.servers import serving_in_loop
from tests.transport.test_subscriptions import TransportWs, open_socket

SUBJECTS: dict[str, object] = {
    "superscript two": "²",
    "arabic-indic one": "١",  # int() reads it as 1: it would sign in as the first user
    "fullwidth one": "１",
    "past 32 bits": str(2**31),
    "past 64 bits": "9" * 20,
    "thousands of digits": "9" * 5000,  # past int()'s digit limit
    "leading zero": "01",
    "zero": "0",
    "plus sign": "+1",
    "minus sign": "-1",
    "spaces": " 1 ",
    "empty": "",
    "exponent": "1e3",
    "a number, not a string": 1,
    "a list": ["1"],
}
REFUSED = {"errors": [{"message": "the token is invalid", "extensions": {"code": "UNAUTHENTICATED"}}]}


def signed(settings: Settings, subject: object) -> str:
    """A token of our own key, unexpired, whose `sub` is `subject` (PyJWT checks nothing of it)."""
    claims = {"sub": subject, "exp": datetime.now(UTC) + timedelta(hours=1)}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


@pytest.mark.parametrize("subject", list(SUBJECTS.values()), ids=list(SUBJECTS))
async def test_a_signed_token_whose_subject_is_no_id_is_refused_over_http(
    client: httpx.AsyncClient, settings: Settings, subject: object
) -> None:
    await register(client, "alice")  # user 1, whom the Arabic-Indic one would name
    for query in ("{ viewer { email } }", 'mutation { favoriteArticle(slug: "x") { errors { code } } }'):
        response = await client.post(
            "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {signed(settings, subject)}", "Accept": GRAPHQL_RESPONSE_JSON},
        )
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == GRAPHQL_RESPONSE_JSON
        assert response.json() == REFUSED


async def test_the_largest_id_is_a_valid_subject(client: httpx.AsyncClient, settings: Settings) -> None:
    """2**31 - 1 is an id that can exist (here it names nobody): the request runs, nothing overflows."""
    response = await client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"Authorization": f"Bearer {signed(settings, str(2**31 - 1))}"},
    )
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("subject", ["²", "١", str(2**31), "01"])
async def test_a_signed_token_whose_subject_is_no_id_closes_the_websocket(
    app: FastAPI, settings: Settings, subject: str
) -> None:
    token = signed(settings, subject)
    async with serving_in_loop(app) as address:
        async with open_socket(address) as socket:
            await socket.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            )
            with pytest.raises(ConnectionClosed) as closed:
                await TransportWs(socket).receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        async with open_socket(address, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            with pytest.raises(ConnectionClosed) as closed:
                await TransportWs(socket).receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
