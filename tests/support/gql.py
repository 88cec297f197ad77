"""The GraphQL client of the tests: one POST per operation, as a frontend sends it."""

from __future__ import annotations

from typing import Any

import httpx

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { token viewer { email user { id username } } errors { field message code } }
}
"""


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """The whole JSON response but its cost estimate; a non-200 status fails the test.

    Every response reports `extensions.cost` (tests/execution/test_limits.py checks it); it is left
    out here so that tests can compare the rest of a response whole.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    extensions = body.get("extensions", {})
    extensions.pop("cost", None)
    if not extensions:
        body.pop("extensions", None)
    return body


async def register(client: httpx.AsyncClient, username: str, password: str = "password123") -> str:
    """A new account; returns its token."""
    result = await gql(
        client,
        REGISTER,
        {"input": {"username": username, "email": f"{username}@example.com", "password": password}},
    )
    payload = result["data"]["register"]
    assert payload["errors"] == [], payload
    token: str = payload["token"]
    return token
