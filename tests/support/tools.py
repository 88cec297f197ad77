"""The client tools some tests drive, found once: Node.js 20+ with npm, and Debian's Chromium.

Why: a fresh clone must pass `make test` with python3 alone, so a test that needs a tool the
machine lacks is skipped, with the reason in pytest's report header and in the skip summary;
CI (`.ci/run`) sets REQUIRE_CLIENT_TOOLS=1, and there a missing tool fails the run instead of
hiding tests behind skips.

The mechanism, for any test that runs `node`, `npm`, `chromium` or `pgbouncer` (a server, but
a tool the machine may lack like the others):

- mark it with the tool it needs, one or both of the markers registered in pyproject.toml::

      pytestmark = pytest.mark.node                           # runs node or npm
      pytestmark = [pytest.mark.node, pytest.mark.browser]    # drives Chromium through node
      pytestmark = pytest.mark.pgbouncer                      # starts PgBouncer

  (or `@pytest.mark.node` on one test function). Nothing else: tests/conftest.py skips marked
  tests whose tool is missing (`skip_reason`) and refuses to start under REQUIRE_CLIENT_TOOLS=1
  when one is missing (`missing_tools`).
- `-m "not node and not browser"` is the fast inner loop without any of them.
- Chromium is the `CHROMIUM` environment variable when set, else Debian's /usr/bin/chromium,
  the same rule tests/client/graphiql.mjs follows.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_MAJOR = 20
DEBIAN_CHROMIUM = "/usr/bin/chromium"


@functools.cache
def node_problem() -> str | None:
    """Why the node-marked tests cannot run here, or None when node >= 20 and npm are on PATH."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are not both on PATH (apt-get install nodejs npm)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    major = re.match(r"v(\d+)\.", version.strip())
    if major is None or int(major.group(1)) < NODE_MAJOR:
        return f"node {version.strip() or '(no version)'} is older than {NODE_MAJOR}"
    return None


def node_available() -> bool:
    return node_problem() is None


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "none"
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()


def chromium_path() -> str | None:
    """The Chromium the browser tests launch, or None when it is not there."""
    path = os.environ.get("CHROMIUM") or DEBIAN_CHROMIUM
    return path if Path(path).is_file() and os.access(path, os.X_OK) else None


def browser_problem() -> str | None:
    if chromium_path() is None:
        where = os.environ.get("CHROMIUM") or DEBIAN_CHROMIUM
        return f"no Chromium at {where} (apt-get install chromium, or set CHROMIUM)"
    return None


def pgbouncer_problem() -> str | None:
    """PgBouncer runs in front of PostgreSQL in the pooler tests (tests/support/pgservers.py)."""
    if shutil.which("pgbouncer") is None and not os.access("/usr/sbin/pgbouncer", os.X_OK):
        return "no pgbouncer on PATH (apt-get install pgbouncer)"
    return None


#: Each marker and the check that says why its tests cannot run.
MARKERS = {"node": node_problem, "browser": browser_problem, "pgbouncer": pgbouncer_problem}


def missing_tools() -> dict[str, str]:
    """Marker name -> why its tool is missing, for every tool this machine lacks."""
    return {name: problem for name, check in MARKERS.items() if (problem := check()) is not None}


def skip_reason(item: pytest.Item) -> str | None:
    """Why `item` must be skipped here, from the tool markers it carries."""
    missing = missing_tools()
    needed = [name for name in missing if item.get_closest_marker(name) is not None]
    return "; ".join(f"needs {name}: {missing[name]}" for name in needed) or None


def report_header() -> str:
    missing = missing_tools()
    node = f"node {node_version()}" if "node" not in missing else f"node: {missing['node']}"
    browser = f"chromium {chromium_path()}" if "browser" not in missing else f"chromium: {missing['browser']}"
    pgbouncer = "pgbouncer" if "pgbouncer" not in missing else f"pgbouncer: {missing['pgbouncer']}"
    skipped = f"; tests marked {' and '.join(missing)} are skipped" if missing else ""
    return f"Client tools: {node}, {browser}, {pgbouncer}{skipped}"
