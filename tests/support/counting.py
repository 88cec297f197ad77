"""Counting the SQL statements an app's engine runs."""

from __future__ import annotations

from typing import Any


class StatementCounter:
    """Counts the SQL statements the app's engine runs while `counting` is on."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1
