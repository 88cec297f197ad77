"""The Dockerfile and docker-compose.yml keep their promises, read as files (no Docker engine is
needed): compose has no usable SECRET_KEY default, services restart and wait for health, and
the image installs the lock, ships what the wheel ships, and runs as `conduit` on a writable
SQLite directory. Where the compose plugin exists, `docker compose config` checks the same.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _arguments(instruction: str) -> list[str]:
    return [arguments for name, arguments in _instructions() if name == instruction]


def _env() -> dict[str, str]:
    return dict(pair.split("=", 1) for arguments in _arguments("ENV") for pair in arguments.split())


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    secret = _compose()["services"]["app"]["environment"]["SECRET_KEY"]
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", secret), f"SECRET_KEY has a default: {secret}"


def test_compose_services_restart_and_the_app_waits_for_a_healthy_database() -> None:
    services = _compose()["services"]
    restarts = {name: service.get("restart") for name, service in services.items()}
    assert restarts == {name: "no" if name == "migrate" else "unless-stopped" for name in services}
    assert {"postgres", "app"} <= set(services)
    assert services["postgres"]["healthcheck"]["test"]
    assert services["app"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_compose_keeps_the_images_data_directory_in_a_volume() -> None:
    compose = _compose()
    assert "app-data:/data" in compose["services"]["app"]["volumes"]
    assert "app-data" in compose["volumes"]
    assert _arguments("VOLUME") == ["/data"]


def test_the_image_installs_the_lock_then_the_app_without_dependencies() -> None:
    runs = _arguments("RUN")
    assert any(re.search(r"pip install .*-r \S*requirements\.lock", run) for run in runs)
    assert any(re.search(r"pip install .*--no-deps /src", run) for run in runs)
    assert any("requirements.lock" in copy.split()[0] for copy in _arguments("COPY"))


def test_the_image_copies_every_package_the_wheel_ships() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {package.split(".")[0] for package in project["tool"]["setuptools"]["packages"]}
    needed = {*packages, "pyproject.toml", project["project"]["readme"]}
    copied = {source for copy in _arguments("COPY") for source in copy.split()[:-1]}
    assert needed <= copied
    assert all((ROOT / source).exists() for source in copied)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not needed & set(ignored)
    assert {".venv", ".git", "**/node_modules", "conduit.db*", "bench/results"} <= set(ignored)


def test_the_image_runs_as_conduit_on_sqlite_in_its_writable_volume() -> None:
    assert _arguments("USER") == ["conduit"]
    assert any("chown conduit:conduit /data" in run for run in _arguments("RUN"))
    assert _env()["DATABASE_URL"] == "sqlite+aiosqlite:////data/conduit.db"
    assert _env()["ENVIRONMENT"] == "production"
    assert _arguments("CMD") == ['["sh", "-c", "conduit migrate && exec conduit serve"]']
    assert "/health/ready" in _arguments("HEALTHCHECK")[0]


def test_docker_compose_yml_is_valid_by_the_compose_specification() -> None:
    """What `docker compose config` checks of the file's shape, without a Docker engine: the
    Compose Specification's JSON schema, as check-jsonschema vendors it."""
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
