"""The login throttle across real server processes on one PostgreSQL database: the limits hold
for all of them together, and a restart does not reset them (db/login_attempts.py).

On SQLite one process serves, and its throttle is in memory (tests/graph/test_login_throttle.py).
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from db.settings import Settings
from tests.graph.test_login_throttle import BAD_CREDENTIALS, login
from tests.support.databases import ONLY_POSTGRESQL
from tests.support.gql import register
from tests.support.servers import serving_process

LIMITS = {
    "LOGIN_FAILURES_PER_ACCOUNT": "3",
    "LOGIN_ACCOUNT_WINDOW_SECONDS": "300",
    "LOGIN_ATTEMPTS_PER_ADDRESS": "8",
    "LOGIN_ADDRESS_WINDOW_SECONDS": "600",
}


def code(payload: dict[str, Any]) -> str:
    return str(payload["errors"][0]["code"]) if payload["errors"] else "OK"


@ONLY_POSTGRESQL  # several server processes share a PostgreSQL database
async def test_the_account_limit_holds_across_processes_and_restarts(
    app: FastAPI, settings: Settings
) -> None:
    url = settings.database_url
    with serving_process(url, **LIMITS) as first, serving_process(url, **LIMITS) as second:
        async with (
            httpx.AsyncClient(base_url=first, timeout=30) as a,
            httpx.AsyncClient(base_url=second, timeout=30) as b,
        ):
            await register(a, "alice")
            # Three failures in all, whichever process answers each: the fourth is refused by both.
            assert [await login(http, "alice@example.com") for http in (a, b, a)] == [BAD_CREDENTIALS] * 3
            assert code(await login(b, "alice@example.com", "password123")) == "TOO_MANY_REQUESTS"
            assert code(await login(a, "alice@example.com", "password123")) == "TOO_MANY_REQUESTS"
    with serving_process(url, **LIMITS) as restarted:
        async with httpx.AsyncClient(base_url=restarted, timeout=30) as c:
            refused = await login(c, "alice@example.com", "password123")
    assert code(refused) == "TOO_MANY_REQUESTS"
    assert 90 <= refused["errors"][0]["retryAfter"] <= 100  # one token back every 100 s


@ONLY_POSTGRESQL
async def test_the_address_limit_holds_across_processes(app: FastAPI, settings: Settings) -> None:
    url = settings.database_url
    with serving_process(url, **LIMITS) as first, serving_process(url, **LIMITS) as second:
        async with (
            httpx.AsyncClient(base_url=first, timeout=30) as a,
            httpx.AsyncClient(base_url=second, timeout=30) as b,
        ):
            # Eight attempts from 127.0.0.1 in all (other accounts each time), four on each process.
            codes = [code(await login((a, b)[n % 2], f"user{n}@example.com")) for n in range(10)]
    assert codes == ["BAD_CREDENTIALS"] * 8 + ["TOO_MANY_REQUESTS"] * 2
