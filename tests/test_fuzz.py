"""Fuzzing /graphql with schemathesis: generated operations for every root field find no 500.

A real server (uvicorn in a subprocess, on each engine) is loaded by introspection, and
schemathesis (hypothesis-graphql underneath) generates valid operations with arbitrary
argument values for every Query and Mutation field, signed in or not. A response may refuse
an operation any way it likes — a user error, BAD_USER_INPUT, a limit — but never with a 500
or a masked INTERNAL_SERVER_ERROR. The run is bounded (EXAMPLES per field) and derandomized,
so CI tries the same operations every time; raise EXAMPLES locally to look harder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.case import Case
from schemathesis.graphql import nodes
from schemathesis.specs.graphql.schemas import GraphQLSchema
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db.models import Base
from tests.support.arguments import root_fields
from tests.support.servers import serving_process

EXAMPLES = 25

schemathesis.graphql.scalar(
    "DateTime", st.datetimes(timezones=st.just(UTC)).map(lambda moment: nodes.String(moment.isoformat()))
)

SIGN_UP = """
mutation { register(input: {username: "fuzzer", email: "fuzzer@example.com", password: "password123"}) {
  token
} }
"""


@dataclass(frozen=True)
class Target:
    url: str
    schema: GraphQLSchema
    token: str


@pytest.fixture(scope="module")
def target(migrated_url: str) -> Iterator[Target]:
    """A server on each engine, with the login throttle out of the way (login is fuzzed too)."""
    with serving_process(
        migrated_url, LOGIN_ATTEMPTS_PER_ADDRESS="1000000", LOGIN_FAILURES_PER_ACCOUNT="1000000"
    ) as base:
        url = f"{base}/graphql"
        token = requests.post(url, json={"query": SIGN_UP}, timeout=60).json()["data"]["register"]["token"]
        yield Target(url, schemathesis.graphql.from_url(url), token)
    asyncio.run(empty_tables(migrated_url))


async def empty_tables(url: str) -> None:
    """What the fuzzing wrote goes, so later tests on this database start from nothing."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(text(f"DELETE FROM {table.name}"))
    await engine.dispose()


def check(case: Case, response: requests.Response) -> None:
    sent = case.body
    assert response.status_code < 500, f"{response.status_code} for {sent}: {response.text[:500]}"
    assert "INTERNAL_SERVER_ERROR" not in response.text, f"for {sent}: {response.text[:500]}"
    assert isinstance(response.json(), dict)


FIELDS = [f"{operation.title()}.{name}" for operation, name, _ in root_fields()]


@pytest.mark.parametrize("field", FIELDS)
def test_generated_operations_never_get_a_server_error(target: Target, field: str) -> None:
    (operation,) = [
        result.ok() for result in target.schema.get_all_operations() if result.ok().label == field
    ]
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), signed_in=st.booleans())
    def fuzz(case: Case, signed_in: bool) -> None:
        headers = {"Authorization": f"Bearer {target.token}"} if signed_in else {}
        check(case, case.call(base_url=target.url, session=session, headers=headers, timeout=60))

    fuzz()
