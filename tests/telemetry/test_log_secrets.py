"""No log line carries a secret or a person's data: statement parameters, password hashes,
tokens, emails — not even the traceback of a database error that quotes them.

The provocation is a real failed statement: `db.users.update`'s flush is replaced by one
that, after the real flush, inserts a copy of the updated row. It breaks the unique email
for real (PostgreSQL's DETAIL then quotes the email, `Key (email_key)=(…) already exists`),
its parameters carry the new email, the new password's Argon2 hash and a bio that is the
viewer's token, and nothing expects it: the request gets `INTERNAL_SERVER_ERROR` and the log
its traceback. Every line is read: what the service writes on stderr, and every record that
reached the root logger (pytest's handler sees them all).
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Route

import db.users
from db.models import User
from db.settings import Settings
from graph.app import create_app
from graph.telemetry.logs import configure_logging
from tests.support.engines import settings_for
from tests.support.gql import gql, register
from tests.support.servers import serving_in_loop

NEW_EMAIL = "Leaky.Person@secret-domain.example"
NEW_PASSWORD = "correct-horse-battery-staple-9"
HASH = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"
UPDATE_VIEWER = """
mutation UpdateViewer($input: UpdateViewerInput!) {
  updateViewer(input: $input) { viewer { email } errors { field message code } }
}
"""


async def flush_then_copy_the_row(session: AsyncSession) -> None:
    """The real flush, then an INSERT that breaks the unique email with every secret bound."""
    await session.flush()
    [user] = [row for row in session.identity_map.values() if isinstance(row, User)]
    await session.execute(
        insert(User).values(
            username="copy",
            username_key="copy",
            email=user.email,
            email_key=user.email_key,
            password_hash=user.password_hash,
            bio=user.bio,
        )
    )


async def stored_hash(client: httpx.AsyncClient, username: str) -> str:
    database = client._transport.app.state.services.database  # type: ignore[attr-defined]
    async with database.unit_of_work() as session:
        password_hash: str = await session.scalar(select(User.password_hash).where(User.username == username))
    return password_hash


def everything_logged(stderr: str, caplog: pytest.LogCaptureFixture) -> str:
    """The service's stderr and every record the root logger saw, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [formatter.format(record) for record in caplog.records]
    return "\n".join([stderr, *records])


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_a_failed_statement_carrying_secrets_logs_none_of_them(
    app: FastAPI,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    log_format: str,
) -> None:
    """`app` empties the tables; the app under test logs in `log_format`."""
    logging_app = create_app(settings_for(settings.database_url, log_format=log_format))
    async with logging_app.router.lifespan_context(logging_app):
        transport = httpx.ASGITransport(app=logging_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client:
            token = await register(client, "leaky")
            monkeypatch.setattr(db.users, "_flush_unique", flush_then_copy_the_row)
            caplog.set_level(logging.DEBUG)
            capsys.readouterr()
            changes = {"email": NEW_EMAIL, "password": NEW_PASSWORD, "bio": token}
            result = await gql(client, UPDATE_VIEWER, {"input": changes}, token)
            monkeypatch.undo()
            old_hash = await stored_hash(client, "leaky")
        logged = everything_logged(capsys.readouterr().err, caplog)
    [error] = result["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    # The unit of work rolled back: the old hash stayed, the new one existed only in flight.
    assert old_hash.startswith("$argon2")
    assert f"unexpected error {error['extensions']['errorId']}" in logged
    assert "IntegrityError" in logged and "Traceback" in logged  # the traceback is there ...
    secrets = [NEW_EMAIL, NEW_EMAIL.casefold(), "secret-domain", NEW_PASSWORD, token, "$argon2"]
    leaks = [line for line in logged.splitlines() if any(secret in line for secret in secrets)]
    assert leaks == []  # ... none of these


async def test_secrets_in_any_log_line_are_redacted(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever writes a line (a library, a message quoting an exception's text), what looks
    like an email, an Argon2 hash or a token is replaced before it is written."""
    create_app(settings)  # configures logging
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    capsys.readouterr()
    try:
        raise ValueError(f"bad row (someone@example.com, $argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA, {token})")
    except ValueError:
        logging.getLogger("some.library").exception("failed for someone@example.com: Bearer %s", token)
    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert line["event"] == "failed for [email redacted]: [bearer redacted]"
    assert line["exception"].endswith(
        "ValueError: bad row ([email redacted], [hash redacted], [token redacted])"
    )


async def test_uvicorn_websocket_lines_leave_out_the_query_string(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    create_app(settings)
    capsys.readouterr()
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/graphql?token=abc.def")
    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert line["event"] == '127.0.0.1:5000 - "WebSocket /graphql" [accepted]'


async def failed_insert(app: FastAPI) -> IntegrityError:
    """The error of a real INSERT that broke the unique email, its secrets bound."""
    database = app.state.services.database
    row = {"username": "twin", "email": NEW_EMAIL, "password_hash": HASH}
    async with database.unit_of_work() as session:
        await session.execute(insert(User).values(**row, username_key="twin", email_key=NEW_EMAIL))
    with pytest.raises(IntegrityError) as failed:
        async with database.unit_of_work() as session:
            await session.execute(insert(User).values(**row, username_key="twin2", email_key=NEW_EMAIL))
    return failed.value


async def test_a_database_error_quotes_no_statement_parameters(app: FastAPI) -> None:
    """At the source too (the engines' `hide_parameters`): a handler that prints an
    exception's text itself sees the statement, not its values."""
    error = await failed_insert(app)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(error)
    assert HASH not in str(error)


async def test_an_exception_escaping_the_app_is_logged_by_uvicorn_without_its_text(
    app: FastAPI, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn logs what escapes the ASGI app ("Exception in ASGI application") with its
    traceback: through the same renderer, so a database error is its kind alone."""
    error = await failed_insert(app)

    async def explode(_: Request) -> Response:
        raise error

    served = create_app(settings)
    served.router.routes.append(Route("/explode", explode))
    async with served.router.lifespan_context(served), serving_in_loop(served) as address:
        configure_logging(settings)  # as in a worker: uvicorn's Config configured its own here
        capsys.readouterr()
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://{address}/explode")
        await asyncio.sleep(0.1)  # uvicorn logs once the response is out
    assert response.status_code == 500
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [escaped] = [line for line in logged if line["event"].startswith("Exception in ASGI application")]
    assert escaped["logger"] == "uvicorn.error"
    assert "IntegrityError" in escaped["exception"]
    text = json.dumps(logged)
    assert [secret for secret in (NEW_EMAIL, NEW_EMAIL.casefold(), HASH) if secret in text] == []


async def test_a_long_path_is_cut_in_the_access_line(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = await client.get("/" + "a" * 60_000, headers={"X-Request-ID": "long-path"})
    assert response.status_code == 404
    [line] = [
        e for e in map(json.loads, capsys.readouterr().err.splitlines()) if e.get("request_id") == "long-path"
    ]
    assert line["path"] == "/" + "a" * 1023 + "… (60001 characters)"
