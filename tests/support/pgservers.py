"""Servers of the PostgreSQL family a test starts for itself: a PgBouncer in transaction mode in
front of the test database's server, and a primary with a streaming standby of its own.

Each runs in a temporary directory, on free ports, as the `postgres` OS user when the tests run
as root (neither PgBouncer nor PostgreSQL runs as root); nothing here touches the machine's own
cluster or its configuration. Waits are generous: the machine running the suite may be busy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tests.support.servers import free_port, stop_group

POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
START_SECONDS = 60


def pgbouncer_path() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer",) if os.access(path, os.X_OK)), None
    )


def initdb_problem() -> str | None:
    """Why no primary and standby can be made here, or None."""
    missing = [name for name in ("initdb", "pg_ctl", "pg_basebackup") if not (POSTGRES_BIN / name).is_file()]
    if missing:
        return f"no {', '.join(missing)} in {POSTGRES_BIN} (apt-get install postgresql, or set POSTGRES_BIN)"
    return None


def _as_owner(command: list[str]) -> list[str]:
    """`command` as the `postgres` user when running as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def _scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory the server's user owns, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            detail = log.read_text() if log is not None and log.exists() else ""
            raise AssertionError(f"nothing listens on {port} after {START_SECONDS} s: {detail[-2000:]}")
        time.sleep(0.1)


@contextlib.contextmanager
def pgbouncer(server_url: str, *, pool_size: int = 4) -> Iterator[int]:
    """PgBouncer with `pool_mode = transaction` in front of `server_url`'s server; yields its
    port. Few server connections, so that clients share them as in production."""
    binary = pgbouncer_path()
    assert binary is not None, "pgbouncer is not installed"
    server = make_url(server_url)
    port = free_port()
    with _scratch("conduit-pgbouncer-") as directory:
        user = server.username or "postgres"
        (directory / "userlist.txt").write_text(f'"{user}" ""\n')
        config = directory / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {directory / 'userlist.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            f"logfile = {directory / 'pgbouncer.log'}\n"
        )
        for path in directory.iterdir():
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        process = subprocess.Popen(_as_owner([binary, str(config)]), start_new_session=True)
        try:
            wait_for_port(port, process, directory / "pgbouncer.log")
            yield port
        finally:
            stop_group(process)


def url_on_port(url: str, port: int) -> str:
    """`url` with its server's port replaced (the same database, through another server)."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


class Replication:
    """A primary and its streaming standby, each in a directory of its own (see `replication`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.primary_port = free_port()
        self.standby_port = free_port()
        self.primary_data = directory / "primary"
        self.standby_data = directory / "standby"

    def url(self, port: int, database: str = "conduit") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def standby_url(self) -> str:
        return self.url(self.standby_port)

    def _run(self, *command: str) -> None:
        finished = subprocess.run(
            _as_owner(list(command)), capture_output=True, text=True, timeout=START_SECONDS * 2, check=False
        )
        assert finished.returncode == 0, f"{command[0]} failed: {finished.stdout}\n{finished.stderr}"

    def _pg_ctl(self, data: Path, *arguments: str) -> None:
        self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", str(START_SECONDS), *arguments)

    def start(self, data: Path, port: int) -> None:
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        self._pg_ctl(data, "-l", str(data.parent / f"{data.name}.log"), "-o", options, "start")

    def create(self) -> None:
        self._run(
            str(POSTGRES_BIN / "initdb"), "-D", str(self.primary_data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        with (self.primary_data / "postgresql.conf").open("a") as conf:
            # Small and quick: a test server, on a machine that runs other things.
            conf.write("shared_buffers = 16MB\nmax_connections = 60\nfsync = off\nwal_level = replica\n")
        self.start(self.primary_data, self.primary_port)
        self._run(
            str(POSTGRES_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
            "-U", "postgres", "-D", str(self.standby_data), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        self.start_standby()

    def start_standby(self) -> None:
        self.start(self.standby_data, self.standby_port)

    def stop_standby(self) -> None:
        self._pg_ctl(self.standby_data, "-m", "fast", "stop")

    def stop_all(self) -> None:
        for data in (self.standby_data, self.primary_data):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                    self._pg_ctl(data, "-m", "immediate", "stop")

    async def create_database(self) -> None:
        """The `conduit` database on the primary (the standby replays it)."""
        connection = await self.primary()
        try:
            await connection.execute("CREATE DATABASE conduit")
        finally:
            await connection.close()

    async def standby(self) -> asyncpg.Connection:
        return await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.standby_port}/postgres")

    async def primary(self) -> asyncpg.Connection:
        return await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.primary_port}/postgres")


@contextlib.contextmanager
def replication() -> Iterator[Replication]:
    """A new primary (`initdb`) and a standby made from it (`pg_basebackup -R`), both running;
    stopped and removed afterwards, however the tests ended."""
    with _scratch("conduit-replication-") as directory:
        servers = Replication(directory)
        try:
            servers.create()
            yield servers
        finally:
            servers.stop_all()
