"""Idempotent retries: a mutation sent with an Idempotency-Key runs once, whatever happens to
its answer; and an answer never says "try again" about a write that was stored.

The faults are real: a TCP proxy (tests/support/proxy.py) cuts the HTTP connection as the response
leaves the server, or PostgreSQL's connection right after it received the COMMIT; SQLite's
connection is closed by the driver mid-transaction (tests/test_faults.py's outages).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.models import utc_now
from db.settings import Settings
from graph.app import create_app
from graph.errors import DATABASE_UNAVAILABLE
from graph.idempotency import IN_USE, KEY_RULE, NOT_STORED, REUSED
from graph.mutations import OUTCOME_UNKNOWN
from tests.support.databases import ONLY_POSTGRESQL
from tests.support.engines import settings_for
from tests.support.factories import CREATE_ARTICLE, article_input, count_rows, database, user_id
from tests.support.gql import REGISTER, register
from tests.support.proxy import Proxy
from tests.support.servers import serving_in_loop, serving_process
from tests.test_faults import LockedSqlite, ProxiedPostgres

KEY = "3f9c2b1e-7d4a-4c55-9e0f-5b8a1d2c3e4f"
GRAPHQL_RESPONSE = "application/graphql-response+json"
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { token errors { code } } }"


def create(title: str = "How to train your dragon", **fields: Any) -> dict[str, Any]:
    return {"query": CREATE_ARTICLE, "variables": {"input": article_input(title=title, **fields)}}


async def post(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    *,
    token: str | None = None,
    key: str | bytes | None = KEY,
    accept: str | None = None,
) -> httpx.Response:
    headers: dict[str, Any] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    if accept is not None:
        headers["Accept"] = accept
    return await client.post("/graphql", json=body, headers=headers)


def refusal(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def replayed(response: httpx.Response) -> bool:
    return response.headers.get("idempotent-replayed") == "true"


async def stored_keys(app: FastAPI) -> list[Any]:
    async with database(app).read_session() as session:
        rows = await session.execute(text("SELECT scope, key, status, body FROM idempotency_keys"))
        return list(rows.all())


async def test_a_retry_gets_the_stored_response_byte_for_byte_and_nothing_runs_again(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    token = await register(client, "writer")
    first = await post(client, create(tagList=["a", "b"]), token=token, accept=GRAPHQL_RESPONSE)
    assert first.status_code == 200
    assert first.json()["data"]["createArticle"]["article"]["tagList"] == ["a", "b"]
    assert not replayed(first)

    retry = await post(client, create(tagList=["a", "b"]), token=token)  # another Accept, same answer
    assert (retry.status_code, retry.headers["content-type"], retry.content) == (
        first.status_code,
        first.headers["content-type"],
        first.content,
    )
    assert replayed(retry)
    assert await count_rows(app, "articles") == 1


async def test_twenty_concurrent_requests_with_one_key_run_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    token = await register(client, "writer")
    responses = await asyncio.gather(*(post(client, create(), token=token) for _ in range(20)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert sum(not replayed(response) for response in responses) == 1
    assert responses[0].json()["data"]["createArticle"]["errors"] == []
    assert await count_rows(app, "articles") == 1


async def test_the_same_key_for_another_request_is_refused_and_runs_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    token = await register(client, "writer")
    assert (await post(client, create("First"), token=token)).status_code == 200
    reused = await post(client, create("Second"), token=token)
    assert (reused.status_code, reused.json()) == (422, refusal(REUSED, "IDEMPOTENCY_KEY_REUSED"))
    assert await count_rows(app, "articles") == 1


async def test_keys_are_scoped_per_viewer(client: httpx.AsyncClient, app: FastAPI) -> None:
    ada = await register(client, "ada")
    linus = await register(client, "linus")
    first = await post(client, create(), token=ada)
    other = await post(client, create(), token=linus)
    assert not replayed(other)
    assert other.json()["data"]["createArticle"]["article"]["author"] == {"username": "linus"}
    assert first.json()["data"]["createArticle"]["article"]["author"] == {"username": "ada"}
    assert await count_rows(app, "articles") == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "tab\there", "caf\u00e9".encode()])
async def test_a_malformed_key_is_refused_before_anything_runs(
    client: httpx.AsyncClient, app: FastAPI, key: str | bytes
) -> None:
    token = await register(client, "writer")
    response = await post(client, create(), token=token, key=key)
    assert (response.status_code, response.json()) == (400, refusal(KEY_RULE, "BAD_REQUEST"))
    assert await count_rows(app, "articles") == 0
    longest = await post(client, create(), token=token, key="~" * 255)
    assert longest.json()["data"]["createArticle"]["errors"] == []


async def test_a_key_on_a_query_is_ignored(client: httpx.AsyncClient, app: FastAPI) -> None:
    token = await register(client, "writer")
    for _ in range(2):
        response = await post(client, {"query": "{ viewer { user { username } } }"}, token=token)
        assert response.json()["data"] == {"viewer": {"user": {"username": "writer"}}}
        assert not replayed(response)
    assert await stored_keys(app) == []


async def test_an_expired_key_is_purged_and_runs_again(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    token = await register(client, "writer")
    await post(client, create(), token=token)
    expired = utc_now() - timedelta(seconds=settings.idempotency_ttl_seconds + 60)
    async with database(app).unit_of_work() as session:
        await session.execute(text("UPDATE idempotency_keys SET created_at = :at"), {"at": expired})
        await session.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) "
                "VALUES ('anonymous', 'forgotten', 'x', :at)"
            ),
            {"at": expired},
        )

    again = await post(client, create(), token=token)
    assert not replayed(again)
    assert again.json()["data"]["createArticle"]["article"]["slug"] == "how-to-train-your-dragon-2"
    assert await count_rows(app, "articles") == 2
    assert [(scope, key) for scope, key, _, _ in await stored_keys(app)] == [
        (f"user:{await user_id(app, 'writer')}", KEY)
    ]


async def test_a_response_carrying_a_token_is_never_stored_and_never_replayed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    signup = {
        "query": REGISTER,
        "variables": {"input": {"username": "ada", "email": "ada@example.com", "password": "password123"}},
    }
    first = await post(client, signup)
    assert first.json()["data"]["register"]["token"]
    retry = await post(client, signup)
    message = NOT_STORED.format(status=200)
    assert (retry.status_code, retry.json()) == (409, refusal(message, "IDEMPOTENT_RESPONSE_NOT_STORED"))
    assert await count_rows(app, "users") == 1

    sign_in = {
        "query": LOGIN,
        "variables": {"input": {"email": "ada@example.com", "password": "password123"}},
    }
    assert (await post(client, sign_in, key="login-1")).json()["data"]["login"]["token"]
    assert (await post(client, sign_in, key="login-1")).status_code == 409
    assert [(status, body) for _, _, status, body in await stored_keys(app)] == [(200, None), (200, None)]


async def test_a_user_error_is_stored_and_replayed(client: httpx.AsyncClient, app: FastAPI) -> None:
    token = await register(client, "writer")
    first = await post(client, create(title=" "), token=token)
    assert first.json()["data"]["createArticle"]["errors"][0]["code"] == "INVALID"
    retry = await post(client, create(title=" "), token=token)
    assert replayed(retry)
    assert retry.content == first.content


class AnswerCut(Proxy):
    """Forwards what a client sends; once a message holding the armed marker went through, cuts
    every connection as the answer starts to come back: the server did the work (served the
    request, committed), and the client never hears of it."""

    marker: bytes | None = None
    sent = False

    def cut_answer_to(self, marker: bytes) -> None:
        self.marker, self.sent = marker, False
        self.cut.clear()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool = False
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                if upstream and self.marker is not None and self.marker in data:
                    self.marker, self.sent = None, True
                elif not upstream and self.sent:
                    self.sent = False
                    await self.stop()
                    self.cut.set()
                    return
                writer.write(data)
                await writer.drain()
        writer.close()


async def test_a_retry_after_the_response_was_lost_gets_the_stored_response(app: FastAPI) -> None:
    async with serving_in_loop(app) as address:
        host, port = address.split(":")
        proxy = AnswerCut(host, int(port))
        await proxy.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=30) as client:
            token = await register(client, "writer")
            proxy.cut_answer_to(b"POST /graphql")
            with pytest.raises(httpx.TransportError):
                await post(client, create(tagList=["a"]), token=token)
            assert proxy.cut.is_set()
            await proxy.start()
            retry = await post(client, create(tagList=["a"]), token=token)
        await proxy.stop()
    assert replayed(retry)
    assert retry.json()["data"]["createArticle"]["article"]["tagList"] == ["a"]
    assert await count_rows(app, "articles") == 1


@contextlib.asynccontextmanager
async def app_through(outage: ProxiedPostgres | LockedSqlite, **overrides: Any) -> AsyncIterator[FastAPI]:
    application = create_app(settings_for(outage.url, **overrides))
    async with application.router.lifespan_context(application):
        yield application


@contextlib.asynccontextmanager
async def outage_of(settings: Settings) -> AsyncIterator[ProxiedPostgres | LockedSqlite]:
    if settings.is_sqlite:
        locked = LockedSqlite(settings.database_url)
        yield locked
        await locked.end()
        return
    proxied = ProxiedPostgres(settings.database_url)
    await proxied.start()
    yield proxied
    await proxied.proxy.stop()


async def test_a_payload_read_that_fails_after_the_writes_reports_that_nothing_was_written(
    app: FastAPI, settings: Settings
) -> None:
    """The issue's attack: the connection cut while the payload is read. Before, the article was
    committed and the answer said "try again"; now the answer is true: nothing was written."""
    async with outage_of(settings) as outage, app_through(outage) as served:
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            token = await register(client, "writer")
            body = {
                "query": "mutation($input: CreateArticleInput!) { createArticle(input: $input) "
                "{ article { tagList author { followersCount } } errors { code } } }",
                "variables": {"input": article_input(tagList=["a", "b"])},
            }
            outage.cut_when("FROM follows", served)
            failed = await post(client, body, token=token)
            assert failed.json()["data"] is None
            assert [error["message"] for error in failed.json()["errors"]] == [DATABASE_UNAVAILABLE]
            assert await count_rows(app, "articles") == 0
            await outage.end()

            retry = await post(client, body, token=token)
    assert not replayed(retry)
    assert retry.json()["data"]["createArticle"]["article"]["tagList"] == ["a", "b"]
    assert await count_rows(app, "articles") == 1


@ONLY_POSTGRESQL  # a COMMIT lost on the network needs a database server
async def test_a_connection_lost_during_the_commit_says_the_outcome_is_unknown_and_the_key_settles_it(
    app: FastAPI, settings: Settings
) -> None:
    lost = ProxiedPostgres(settings.database_url)
    proxy = lost.proxy = AnswerCut(*lost.proxy.target)
    await lost.start()
    async with app_through(lost) as served:
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            token = await register(client, "writer")
            proxy.cut_answer_to(b"COMMIT;")
            unknown = await post(client, create(), token=token, accept=GRAPHQL_RESPONSE)
            assert proxy.cut.is_set()
            assert unknown.status_code == 503
            [error] = unknown.json()["errors"]
            assert (error["message"], error["extensions"]["code"]) == (OUTCOME_UNKNOWN, "OUTCOME_UNKNOWN")
            await lost.end()

            retry = await post(client, create(), token=token, accept=GRAPHQL_RESPONSE)
    await proxy.stop()
    assert replayed(retry)  # it had been committed: the stored response says what happened
    assert retry.json()["data"]["createArticle"]["errors"] == []
    assert await count_rows(app, "articles") == 1


@ONLY_POSTGRESQL  # waiting on another transaction's row lock is PostgreSQL's
async def test_a_retry_while_the_first_still_runs_waits_then_is_told_to_come_back(
    app: FastAPI, settings: Settings
) -> None:
    """PostgreSQL: the retry waits on the key's row; past the statement timeout it is 409 with
    Retry-After, having run nothing. (On SQLite the write turn is what it waits on.)"""
    async with app_through_url(settings.database_url, db_statement_timeout_ms=1000) as served:
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            token = await register(client, "writer")
            scope = f"user:{await user_id(app, 'writer')}"
            url = make_url(settings.database_url)
            holder = await asyncpg.connect(
                host=url.host, port=url.port, user=url.username, database=url.database
            )
            try:
                await holder.execute("BEGIN")
                await holder.execute(
                    "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) "
                    "VALUES ($1, $2, 'running', now())",
                    scope,
                    KEY,
                )
                busy = await post(client, create(), token=token)
                await holder.execute("ROLLBACK")  # the first request failed after all
            finally:
                await holder.close()
            assert (busy.status_code, busy.json()) == (409, refusal(IN_USE, "IDEMPOTENCY_KEY_IN_USE"))
            assert busy.headers["retry-after"] == "1"
            assert await count_rows(app, "articles") == 0
            retry = await post(client, create(), token=token)
    assert not replayed(retry)
    assert retry.json()["data"]["createArticle"]["errors"] == []
    assert await count_rows(app, "articles") == 1


@contextlib.asynccontextmanager
async def app_through_url(url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    application = create_app(settings_for(url, **overrides))
    async with application.router.lifespan_context(application):
        yield application


@ONLY_POSTGRESQL  # several server processes share a PostgreSQL database
async def test_a_retry_on_another_server_process_gets_the_stored_response(
    app: FastAPI, settings: Settings
) -> None:
    with serving_process(settings.database_url) as first, serving_process(settings.database_url) as second:
        async with (
            httpx.AsyncClient(base_url=first, timeout=30) as a,
            httpx.AsyncClient(base_url=second, timeout=30) as b,
        ):
            token = await register(a, "writer")
            original = await post(a, create(), token=token)
            retry = await post(b, create(), token=token)
    assert replayed(retry)
    assert (retry.status_code, retry.content) == (original.status_code, original.content)
    assert await count_rows(app, "articles") == 1
