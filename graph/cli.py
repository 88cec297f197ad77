"""The `conduit` command: serve, migrate, seed, schema, trusted-documents."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from db.settings import Settings


class _Parser(argparse.ArgumentParser):
    """Bad usage is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="conduit", description="The Conduit GraphQL server.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser("serve", help="serve the API with uvicorn (HOST, PORT honoured)")
    serve.add_argument("--host", help="address to bind (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    commands.add_parser("seed", help="add the demo data set (once; a second run adds nothing)")
    commands.add_parser("schema", help="print the served schema as SDL")
    trusted = commands.add_parser("trusted-documents", help="the operations TRUSTED_DOCUMENTS_ONLY lets run")
    actions = trusted.add_subparsers(dest="action", required=True, parser_class=_Parser)
    load = actions.add_parser(
        "load",
        help="store a manifest's documents as trusted: GraphQL Code Generator's persisted-documents.json "
        "or Relay's persisted_queries.json ({id: document})",
    )
    load.add_argument("file", type=Path, help="the manifest (JSON)")
    load.add_argument("--replace", action="store_true", help="also remove trusted documents it does not list")
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        sys.exit(f"conduit: invalid configuration: {reasons}")
    if arguments.command == "serve":
        _serve(settings, arguments)
    elif arguments.command == "migrate":
        from db.migrate import upgrade

        upgrade(settings.database_url)
    elif arguments.command == "seed":
        added = asyncio.run(_seed(settings))
        print("demo data added" if added else "demo data already present")
    elif arguments.command == "trusted-documents":
        _load_trusted(settings, arguments.file, replace=arguments.replace)
    else:
        from graph.schema import create_schema

        sys.stdout.write(create_schema(settings).as_str() + "\n")


def _serve(settings: Settings, arguments: argparse.Namespace) -> None:
    from graph.telemetry.logs import configure_logging
    from graph.telemetry.multiprocess import workers_directory

    configure_logging(settings)  # the supervisor's lines (workers, reload) are JSON too
    with workers_directory(arguments.workers):  # one /metrics scrape counts every worker
        _run(settings, arguments)


def _run(settings: Settings, arguments: argparse.Namespace) -> None:
    import uvicorn

    from graph.transport.protocol import PROTOCOL
    from graph.transport.websocket import WEBSOCKET_PROTOCOL

    uvicorn.run(
        "graph.app:create_app",
        factory=True,
        http=PROTOCOL,
        ws=WEBSOCKET_PROTOCOL,  # uvicorn's websockets protocol, but a ping flood is not buffered
        host=arguments.host or settings.host,
        port=arguments.port or settings.port,
        workers=arguments.workers,
        reload=arguments.reload,
        log_level=settings.log_level.lower(),
        log_config=None,  # graph/telemetry/logs.py configures logging, in every worker's create_app
        access_log=False,  # graph/telemetry/requests.py writes the access line
        # A WebSocket message over MAX_REQUEST_BYTES is refused (1009) as its frames are read,
        # before it is buffered: uvicorn's default would take 16 MiB per message.
        ws_max_size=settings.max_request_bytes,
        # SIGTERM: in-flight requests finish (for at most this long), WebSockets close with 1012.
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


async def _seed(settings: Settings) -> bool:
    from db.passwords import Passwords
    from db.seed import seed
    from db.sql.engine import Database

    database = Database.from_settings(settings)
    try:
        async with database.unit_of_work() as session:
            return await seed(session, Passwords(settings))
    finally:
        await database.dispose()


def _load_trusted(settings: Settings, path: Path, *, replace: bool) -> None:
    from graph.persisted import ManifestError, read_manifest

    try:
        manifest = read_manifest(
            path, max_tokens=settings.max_query_tokens, max_bytes=settings.max_request_bytes
        )
    except ManifestError as error:
        sys.exit(f"conduit: {error}")
    added = asyncio.run(_trust(settings, manifest, replace=replace))
    print(f"{len(manifest)} trusted documents loaded ({added} new)")


async def _trust(settings: Settings, manifest: dict[str, str], *, replace: bool) -> int:
    import db.persisted
    from db.sql.engine import Database

    database = Database.from_settings(settings)
    try:
        async with database.unit_of_work() as session:
            return await db.persisted.trust(session, manifest, replace=replace)
    finally:
        await database.dispose()


if __name__ == "__main__":
    main()
