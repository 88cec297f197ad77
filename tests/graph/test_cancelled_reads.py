"""A read cut short by its caller still gives its connection back.

graphql-core cancels the sibling fields of one that fails; a read cancelled in the middle of
its pool checkout used to leave the connection checked out for good (SQLite showed it).
"""

from __future__ import annotations

import gc

import httpx
from fastapi import FastAPI

from tests.support.gql import register

FAILING_NEXT_TO_A_READ = """
mutation {
  updateViewer(input: {bio: "x"}) {
    viewer { user { followersCount } feed(first: 1, last: 1) { totalCount } }
  }
}
"""


async def test_a_cancelled_sibling_read_leaks_no_connection(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "leaky")
    for _ in range(5):
        response = await client.post(
            "/graphql", json={"query": FAILING_NEXT_TO_A_READ}, headers={"Authorization": f"Bearer {token}"}
        )
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    gc.collect()  # a connection dropped unreturned would warn here, and warnings fail the run
    assert app.state.services.database.engine.pool.checkedout() == 0
