"""The README's Security table stays true to the code: its tests exist, its settings are settings."""

from __future__ import annotations

import re
from pathlib import Path

from db.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTING = re.compile(r"`([A-Z][A-Z0-9_]*\*?)`")
TEST_FILE = re.compile(r"`(tests/[\w/]+\.py)`")


def security_rows() -> list[list[str]]:
    section = (ROOT / "README.md").read_text().split("## Security\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_every_row_names_tests_that_exist() -> None:
    rows = security_rows()
    assert len(rows) >= 10
    for attack, _, _, tests in rows:
        files = TEST_FILE.findall(tests)
        assert files, f"no test named for {attack!r}"
        for file in files:
            assert (ROOT / file).is_file(), file


def test_every_setting_named_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for attack, _, settings, _ in security_rows():
        for name in SETTING.findall(settings):
            if name.endswith("*"):
                assert any(field.startswith(name[:-1]) for field in fields), (attack, name)
            else:
                assert name in fields, (attack, name)
