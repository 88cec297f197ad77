"""What an HTTP request may run: one named operation of several, and no subscription."""

from __future__ import annotations

import httpx
import pytest

from tests.support.served import post

RESPONSE_JSON = "application/graphql-response+json"
TWO = "query A { __typename } query B { tags { name } }"


async def test_several_operations_need_a_name(client: httpx.AsyncClient) -> None:
    response = await post(client, TWO, Accept=RESPONSE_JSON)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Must provide operation name if query contains multiple operations.",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }


@pytest.mark.parametrize(("name", "data"), [("A", {"__typename": "Query"}), ("B", {"tags": []})])
async def test_the_named_operation_runs(client: httpx.AsyncClient, name: str, data: object) -> None:
    response = await client.post("/graphql", json={"query": TWO, "operationName": name})
    assert response.status_code == 200
    assert response.json()["data"] == data


async def test_a_subscription_over_http_is_a_request_error(client: httpx.AsyncClient) -> None:
    query = 'subscription { commentAdded(articleSlug: "any") { id } }'
    response = await post(client, query, Accept=RESPONSE_JSON)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert "WebSocket" in error["message"]
    assert (await post(client, query)).status_code == 200  # application/json keeps 200
