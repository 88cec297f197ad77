"""Login throttling: per account (failures) and per client address (every attempt), refused
with TOO_MANY_REQUESTS and a retry-after, without running the password check.

The app of these tests has small limits: 3 failures per account over 300 s (one more every
100 s) and 12 attempts per address over 60 s (one more every 5 s).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from db.login_attempts import login_throttle
from db.settings import Settings
from tests.support.engines import settings_for
from tests.support.factories import gql, without_extensions
from tests.support.gql import register
from tests.support.served import served

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { token errors { field message code retryAfter } }
}
"""

BAD_CREDENTIALS = {
    "token": None,
    "errors": [
        {
            "field": [],
            "message": "email or password is invalid",
            "code": "BAD_CREDENTIALS",
            "retryAfter": None,
        }
    ],
}


def too_many(seconds: int) -> dict[str, Any]:
    message = f"too many login attempts; try again in {seconds} second{'s' if seconds > 1 else ''}"
    return {
        "token": None,
        "errors": [{"field": [], "message": message, "code": "TOO_MANY_REQUESTS", "retryAfter": seconds}],
    }


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    return settings_for(
        migrated_url,
        login_failures_per_account=3,
        login_account_window_seconds=300,
        login_attempts_per_address=12,
        login_address_window_seconds=60,
    )


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: FastAPI, settings: Settings) -> Clock:
    """The app's throttle (in memory on SQLite, in its table on PostgreSQL), on a clock of the
    test's own."""
    clock = Clock()
    throttle = login_throttle(settings, app.state.services.database, clock=clock)
    app.state.services = dataclasses.replace(app.state.services, login_throttle=throttle)
    return clock


@pytest.fixture
def verified(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords the app checked (the Argon2 verifications it ran), in order."""
    passwords = app.state.services.passwords
    verify = passwords.verify
    seen: list[str] = []

    async def counting(password_hash: str | None, password: str) -> bool:
        seen.append(password)
        return bool(await verify(password_hash, password))

    monkeypatch.setattr(passwords, "verify", counting)
    return seen


async def login(client: httpx.AsyncClient, email: str, password: str = "wrong password") -> Any:
    result = await gql(client, LOGIN, {"input": {"email": email, "password": password}})
    assert "errors" not in result, result
    return result["data"]["login"]


async def test_failures_past_the_account_limit_are_refused_with_a_retry_after(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    await register(client, "alice")
    assert [await login(client, "alice@example.com") for _ in range(3)] == [BAD_CREDENTIALS] * 3
    assert await login(client, "alice@example.com") == too_many(100)
    assert await login(client, "alice@example.com", "password123") == too_many(100)


async def test_a_refused_login_runs_no_password_check(
    client: httpx.AsyncClient, clock: Clock, verified: list[str]
) -> None:
    await register(client, "alice")
    for attempt in range(5):
        await login(client, "alice@example.com", f"guess {attempt}")
    assert verified == ["guess 0", "guess 1", "guess 2"]


async def test_the_refusal_says_retry_after_in_the_http_header_too(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    for _ in range(3):
        await login(client, "alice@example.com")
    refused = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"input": {"email": "alice@example.com", "password": "x"}}},
    )
    assert refused.status_code == 200
    assert refused.headers["retry-after"] == "100"
    accepted = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"input": {"email": "bob@example.com", "password": "x"}}},
    )
    assert "retry-after" not in accepted.headers


async def test_the_account_is_free_again_once_the_wait_is_over(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    await register(client, "alice")
    for _ in range(3):
        await login(client, "alice@example.com")
    clock.now += 99
    assert await login(client, "alice@example.com", "password123") == too_many(1)
    clock.now += 1
    assert (await login(client, "alice@example.com", "password123"))["token"]


async def test_a_successful_login_forgets_the_failures(client: httpx.AsyncClient, clock: Clock) -> None:
    await register(client, "alice")
    for _ in range(2):
        await login(client, "alice@example.com")
    assert (await login(client, "alice@example.com", "password123"))["token"]
    assert [await login(client, "alice@example.com") for _ in range(3)] == [BAD_CREDENTIALS] * 3
    assert await login(client, "alice@example.com") == too_many(100)


async def test_unknown_emails_are_throttled_like_known_ones(client: httpx.AsyncClient, clock: Clock) -> None:
    """The same answers whether the account exists: the throttle reveals no email."""
    await register(client, "alice")
    known = [await login(client, "alice@example.com") for _ in range(4)]
    unknown = [await login(client, "nobody@example.com") for _ in range(4)]
    assert known == unknown == [BAD_CREDENTIALS] * 3 + [too_many(100)]


async def test_the_account_is_the_normalised_email(client: httpx.AsyncClient, clock: Clock) -> None:
    await register(client, "alice")
    for email in ("alice@example.com", " ALICE@example.com", "ａｌｉｃｅ@example.com"):
        assert await login(client, email) == BAD_CREDENTIALS
    assert await login(client, "Alice@Example.COM", "password123") == too_many(100)


async def test_other_accounts_are_not_throttled_by_one_account_s_failures(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    await register(client, "alice")
    await register(client, "bob")
    for _ in range(4):
        await login(client, "alice@example.com")
    assert (await login(client, "bob@example.com", "password123"))["token"]


async def test_invalid_input_counts_for_the_address_but_not_the_account(
    client: httpx.AsyncClient, clock: Clock, verified: list[str]
) -> None:
    for _ in range(12):
        payload = await login(client, "alice@example.com", "")
        assert payload["errors"][0]["code"] == "INVALID"
    assert await login(client, "alice@example.com") == too_many(5)
    assert verified == []


async def test_every_attempt_counts_per_client_address(client: httpx.AsyncClient, clock: Clock) -> None:
    await register(client, "alice")
    for _ in range(11):
        assert (await login(client, "alice@example.com", "password123"))["token"]
    assert await login(client, "nobody@example.com") == BAD_CREDENTIALS
    assert await login(client, "alice@example.com", "password123") == too_many(5)
    clock.now += 5
    assert (await login(client, "alice@example.com", "password123"))["token"]


@asynccontextmanager
async def client_at(app: Any, host: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        yield http


async def test_other_addresses_keep_their_own_attempts(app: FastAPI, clock: Clock) -> None:
    async with client_at(app, "203.0.113.7") as first, client_at(app, "203.0.113.8") as second:
        for number in range(12):
            assert await login(first, f"user{number}@example.com") == BAD_CREDENTIALS
        assert await login(first, "someone@example.com") == too_many(5)
        assert await login(second, "someone@example.com") == BAD_CREDENTIALS


async def test_behind_a_proxy_the_forwarded_address_is_the_client(app: FastAPI, clock: Clock) -> None:
    """uvicorn --proxy-headers (trusting the proxy at 127.0.0.1) resolves X-Forwarded-For."""
    proxied = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")

    async def login_from(http: httpx.AsyncClient, forwarded_for: str, email: str) -> Any:
        body = {"query": LOGIN, "variables": {"input": {"email": email, "password": "x"}}}
        response = await http.post("/graphql", json=body, headers={"x-forwarded-for": forwarded_for})
        return response.json()["data"]["login"]["errors"][0]["code"]

    async with client_at(proxied, "127.0.0.1") as proxy:
        codes = [await login_from(proxy, "198.51.100.1", f"user{n}@example.com") for n in range(13)]
        assert codes == ["BAD_CREDENTIALS"] * 12 + ["TOO_MANY_REQUESTS"]
        assert await login_from(proxy, "198.51.100.2", "user0@example.com") == "BAD_CREDENTIALS"


ALIASES = "\n".join(
    f'  a{n}: login(input: {{email: "alice@example.com", password: "guess {n}"}}) '
    "{ token errors { code retryAfter } }"
    for n in range(10)
)
ALIASED = f"mutation {{\n{ALIASES}\n}}"


async def test_aliases_in_one_document_are_counted_one_by_one(
    client: httpx.AsyncClient, clock: Clock, verified: list[str]
) -> None:
    await register(client, "alice")
    response = await client.post("/graphql", json={"query": ALIASED})
    data = without_extensions(response.json())["data"]
    codes = [data[f"a{n}"]["errors"][0]["code"] for n in range(10)]
    assert codes == ["BAD_CREDENTIALS"] * 3 + ["TOO_MANY_REQUESTS"] * 7
    assert {data[f"a{n}"]["errors"][0]["retryAfter"] for n in range(3, 10)} == {100}
    assert verified == ["guess 0", "guess 1", "guess 2"]
    assert response.headers["retry-after"] == "100"


async def test_concurrent_attempts_are_counted_one_by_one(
    client: httpx.AsyncClient, clock: Clock, verified: list[str]
) -> None:
    await register(client, "alice")
    payloads = await asyncio.gather(*(login(client, "alice@example.com", f"guess {n}") for n in range(6)))
    codes = sorted(payload["errors"][0]["code"] for payload in payloads)
    assert codes == ["BAD_CREDENTIALS"] * 3 + ["TOO_MANY_REQUESTS"] * 3
    assert len(verified) == 3


async def test_the_default_limits_allow_five_failures_per_account(migrated_url: str) -> None:
    async with served(migrated_url) as client:
        codes = [(await login(client, "default@example.com"))["errors"][0]["code"] for _ in range(6)]
    assert codes == ["BAD_CREDENTIALS"] * 5 + ["TOO_MANY_REQUESTS"]
