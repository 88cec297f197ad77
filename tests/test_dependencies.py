"""pyproject.toml declares what the code imports, each with the bounds it was tested within, and
requirements.lock pins every declared distribution: `pip install .` then needs nothing that
happens to be installed for another reason, and a new release cannot change a working set.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OWN = {"graph", "db", "migrations"}


def _name(requirement: str) -> str:
    """The canonical distribution name of a requirement string (PEP 503)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _imported_roots() -> set[str]:
    roots: set[str] = set()
    for folder in OWN:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    roots.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    roots.add(node.module.split(".")[0])
    return roots - OWN - set(sys.stdlib_module_names)


def test_every_imported_distribution_is_a_declared_runtime_dependency() -> None:
    declared = {_name(requirement) for requirement in PROJECT["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        root: sorted(providers.get(root, ["(not installed)"]))
        for root in sorted(_imported_roots())
        if not {_name(dist) for dist in providers.get(root, [])} & declared
    }
    assert undeclared == {}


def test_every_dependency_has_a_lower_and_an_upper_bound() -> None:
    extras = PROJECT["optional-dependencies"]
    requirements = [*PROJECT["dependencies"], *(r for group in extras.values() for r in group)]
    unbounded = [r for r in requirements if not (">=" in r and re.search(r"<(?!=)", r))]
    assert unbounded == []


def test_the_lock_pins_every_declared_distribution() -> None:
    extras = PROJECT["optional-dependencies"]
    declared = {_name(r) for r in [*PROJECT["dependencies"], *(r for g in extras.values() for r in g)]}
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {_name(line) for line in lock.splitlines() if re.match(r"[A-Za-z0-9][^ ]*==", line)}
    assert declared - pinned == set(), "run `make lock`"
