"""The `conduit` command: help for each subcommand, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ["serve", "migrate", "seed", "schema", "trusted-documents"]


def conduit(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = conduit(command, "--help")
    assert result.returncode == 0
    assert f"usage: conduit {command}" in result.stdout


@pytest.mark.parametrize("arguments", [["serve", "--bogus"], ["nonsense"], ["schema", "extra"]])
def test_a_bad_option_is_one_line_and_exit_code_2(arguments: list[str]) -> None:
    result = conduit(*arguments)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("conduit")


def test_schema_prints_the_committed_sdl() -> None:
    committed = (Path(__file__).resolve().parent.parent / "schema.graphql").read_text()
    assert conduit("schema").stdout == committed


def test_production_without_secret_refuses_with_one_line() -> None:
    import os

    env = {**os.environ, "ENVIRONMENT": "production", "SECRET_KEY": ""}
    result = conduit("schema", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "SECRET_KEY" in result.stderr


def test_production_with_the_compose_files_placeholder_refuses_with_one_line() -> None:
    import os

    placeholder = "change-me-to-a-long-random-string-for-real-use"
    env = {**os.environ, "ENVIRONMENT": "production", "SECRET_KEY": placeholder}
    result = conduit("schema", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "SECRET_KEY must be a private random value, not a placeholder" in result.stderr
