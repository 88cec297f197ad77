"""`pip install .` (not editable) gives a working server, run from a directory that is not the
checkout: the wheel carries the migrations and GraphiQL's files, and declares every runtime
dependency (installed here by pip from the wheel's own metadata, at the lock's versions, with
no dev or otel extra), so `conduit migrate` and `conduit serve` need nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ROOT, free_port

pytestmark = pytest.mark.slow

#: Not part of a source tree a user would build from.
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", "conduit.db*"
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path


def _run(
    command: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    arguments = [str(part) for part in command]
    finished = subprocess.run(arguments, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, f"{arguments} failed:\n{finished.stdout}\n{finished.stderr}"
    return finished


def _pins(lock: Path) -> str:
    """requirements.lock as pip constraints: `name==version ; marker` lines without hashes."""
    pins = [line.split(" \\")[0] for line in lock.read_text().splitlines() if re.match(r"[A-Za-z0-9]", line)]
    return "\n".join(pins) + "\n"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from a copy of the checkout, installed alone into a fresh venv."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", work / "dist", source])
    (wheel,) = (work / "dist").glob("conduit_graphql-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    (work / "pins.txt").write_text(_pins(ROOT / "requirements.lock"))
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install"]
    _run([*pip, "--constraint", work / "pins.txt", wheel])
    return Installed(wheel=wheel, bin=venv / "bin")


def _environment(database_url: str) -> dict[str, str]:
    """This process's environment without anything pointing into the checkout."""
    environment = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return {**environment, "DATABASE_URL": database_url, "ENVIRONMENT": "development"}


@contextlib.contextmanager
def _serving(conduit: Path, cwd: Path, environment: dict[str, str]) -> Iterator[str]:
    port = free_port()
    command = [str(conduit), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=cwd, env=environment, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"conduit serve exited with {process.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "conduit serve did not become ready in 60 s"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_wheel_carries_the_migrations_and_graphiql(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {"migrations/env.py", "migrations/script.py.mako"} <= names
    assert any(re.fullmatch(r"migrations/versions/\w+\.py", name) for name in names)
    assert "graph/transport/static/graphiql/graphiql.min.js" in names


def test_installed_conduit_migrates_and_serves_from_any_directory(
    installed: Installed, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = _environment(f"sqlite+aiosqlite:///{tmp_path / 'conduit.db'}")
    code = "import db, migrations; print(db.__file__); print(migrations.__file__)"
    where = _run([installed.bin / "python", "-c", code], cwd=elsewhere, env=environment).stdout
    assert str(ROOT) not in where, f"the checkout leaked into the installed venv:\n{where}"

    _run([installed.bin / "conduit", "migrate"], cwd=elsewhere, env=environment)
    with _serving(installed.bin / "conduit", elsewhere, environment) as base:
        answer = httpx.post(f"{base}/graphql", json={"query": "{ __typename }"}, timeout=10)
        graphiql = httpx.get(f"{base}/static/graphiql/graphiql.min.js", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"data": {"__typename": "Query"}}
    assert graphiql.status_code == 200
    assert sorted(path.name for path in elsewhere.iterdir()) == []
