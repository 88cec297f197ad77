"""The baseline: an earlier commit of this project, served next to ours in the same run.

A change's effect measured in two runs is mixed with whatever else the shared machine did between
them; alternated round by round in one run, both see the same load. `BENCH_BASELINE=<commit>`
checks that commit out into a temporary git worktree (`git worktree add --detach`, removed when
the run ends) and `bench/servers.py` starts it as `ours-before`, with the same venv's Python and
the worktree first on the path, so it imports its own `graph` and `db` and nothing else differs.
That is only the same dependencies if the commit's requirements.lock is ours: otherwise it is
refused, since the venv would run the old code on the new libraries and the comparison would
measure neither.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.config import PROJECT_ROOT, Refused

LOCK = "requirements.lock"
# What the database's shape comes from; the bench database is migrated by ours.
SCHEMA_PATHS = ("migrations", "db/models.py")


@dataclass(frozen=True, slots=True)
class Baseline:
    """The commit checked out and where."""

    asked: str  # as the person wrote it, e.g. HEAD~3
    commit: str
    subject: str
    path: Path

    @property
    def short(self) -> str:
        return self.commit[:9]


def _git(*arguments: str, cwd: Path = PROJECT_ROOT) -> str:
    result = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise Refused(f"bench: git {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result.stdout


def resolve(asked: str) -> str:
    """The full hash of the commit BENCH_BASELINE names; refused when it names none."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{asked}^{{commit}}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise Refused(f"bench: BENCH_BASELINE={asked!r} is not a commit of {PROJECT_ROOT}")
    return result.stdout.strip()


def check_lock(commit: str) -> None:
    """Refuse a baseline whose dependencies are not the ones installed in our venv."""
    theirs = _git("show", f"{commit}:{LOCK}")
    ours = (PROJECT_ROOT / LOCK).read_text()
    if theirs != ours:
        raise Refused(
            f"bench: the baseline {commit[:9]}'s {LOCK} differs from ours "
            f"(`git diff {commit[:9]} -- {LOCK}`), so our venv would run it on other dependencies "
            "than its own. Pick a commit with the same lock, or measure it in its own run with its "
            "own venv."
        )


def schema_differs(commit: str) -> bool:
    """Whether the commit's migrations or models differ from ours: the bench database has our
    schema, which the baseline may not read; the same-data check then tells."""
    result = subprocess.run(
        ["git", "diff", "--quiet", commit, "--", *SCHEMA_PATHS], cwd=PROJECT_ROOT, capture_output=True
    )
    return result.returncode != 0


def _imports_from(path: Path) -> None:
    """Refuse unless the baseline's Python imports `graph` and `db` from the worktree: the venv
    has ours installed (editable), and measuring ours twice would show no difference at all."""
    result = subprocess.run(
        [sys.executable, "-c", "import db, graph; print(graph.__file__); print(db.__file__)"],
        cwd=path,
        env=environment(path),
        capture_output=True,
        text=True,
    )
    found = result.stdout.split()
    if result.returncode != 0 or len(found) != 2 or not all(Path(f).is_relative_to(path) for f in found):
        raise Refused(
            f"bench: the baseline in {path} does not import its own code: {found or result.stderr.strip()}"
        )


def environment(path: Path) -> dict[str, str]:
    """What the baseline server's environment adds: the worktree first on the import path."""
    return {"PYTHONPATH": str(path)}


@contextmanager
def checked_out(asked: str) -> Iterator[Baseline]:
    """The commit in a temporary detached worktree for the block; the worktree removed after,
    also when the run fails or is interrupted (a killed run leaves one `git worktree prune` removes)."""
    commit = resolve(asked)
    check_lock(commit)
    subject = _git("log", "-1", "--format=%s", commit).strip()
    parent = Path(tempfile.mkdtemp(prefix="conduit-bench-"))
    path = parent / f"baseline-{commit[:9]}"
    try:
        _git("worktree", "add", "--detach", str(path), commit)
        try:
            _imports_from(path)
            if schema_differs(commit):
                print(
                    f"bench: the baseline {commit[:9]}'s migrations or models differ from ours; it serves "
                    "the database as ours migrated it",
                    flush=True,
                )
            yield Baseline(asked, commit, subject, path)
        finally:
            _git("worktree", "remove", "--force", str(path))
    finally:
        shutil.rmtree(parent, ignore_errors=True)
