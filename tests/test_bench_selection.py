"""BENCH_SERVERS, BENCH_OPERATIONS and BENCH_BASELINE: what a run measures, what it refuses, and
the report's before/after table. Settings are checked before anything starts, so a typo stops the
run at once instead of after minutes of measuring the wrong thing; none of this needs a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.baseline import Baseline
from bench.config import BASELINE, N_PLUS_ONE, OURS, PEER, BenchConfig, Refused
from bench.operations import OPERATIONS, chosen
from bench.report import write_report
from bench.servers import all_servers

BENCH_VARIABLES = ("BENCH_SERVERS", "BENCH_OPERATIONS", "BENCH_BASELINE")


def config_from(monkeypatch: pytest.MonkeyPatch, **variables: str) -> BenchConfig:
    for name in BENCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return BenchConfig.from_env()


def baseline_at(path: Path) -> Baseline:
    return Baseline(asked="HEAD~1", commit="0123456789abcdef" * 2 + "01234567", subject="Before", path=path)


def test_without_the_new_settings_the_run_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_from(monkeypatch)
    assert [server.name for server in all_servers(config)] == [OURS, PEER, N_PLUS_ONE]
    assert chosen(config.operations) == OPERATIONS


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"BENCH_SERVERS": "ours,postgrafile"}, "unknown servers ['postgrafile']"),
        ({"BENCH_SERVERS": "postgraphile"}, "must include 'ours'"),
        ({"BENCH_SERVERS": "ours,ours-before"}, "BENCH_BASELINE (a git commit) is not set"),
        ({"BENCH_BASELINE": "HEAD~1", "BENCH_SERVERS": "ours,postgraphile"}, "leaves out 'ours-before'"),
    ],
)
def test_a_server_selection_that_cannot_run_is_refused(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    with pytest.raises(Refused, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        config_from(monkeypatch, **variables)


def test_servers_are_narrowed_and_the_baseline_runs_next_to_ours(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = config_from(monkeypatch, BENCH_BASELINE="HEAD~1", BENCH_SERVERS="ours, postgraphile,ours-before")
    servers = all_servers(config, baseline_at(tmp_path))
    assert [server.name for server in servers] == [OURS, BASELINE, PEER]
    ours, before = servers[0], servers[1]
    assert before.port != ours.port
    assert before.command == tuple(str(before.port) if a == str(ours.port) else a for a in ours.command)
    assert before.cwd == tmp_path and before.env["PYTHONPATH"] == str(tmp_path)
    assert {k: v for k, v in before.env.items() if k != "PYTHONPATH"} == ours.env


def test_operations_are_chosen_by_name_in_the_documented_order(monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_from(monkeypatch, BENCH_OPERATIONS="one,article (signed in), feed")
    assert [operation.name for operation in chosen(config.operations)] == [
        "feed",
        "one",
        "article (signed in)",
    ]
    with pytest.raises(Refused, match="unknown operations"):
        chosen(("feeds",))


def context(baseline: Baseline | None) -> dict[str, Any]:
    return {
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "background_cpu_percent": (1.0, 1.0),
        "processes_before": [],
        "load_average_after": (0.1, 0.1, 0.1),
        "versions": {"cpu": "test x 2", "kernel": "test"},
        "sizes": {"users": 1},
        "targets": {"slug": "s", "tag": "t", "username": "u", "write_slug": "w"},
        "baseline": None if baseline is None else {"asked": baseline.asked, "commit": baseline.commit},
    }


def row(rps: float) -> dict[str, float]:
    return {"rps": rps, "p50": 1000 / rps, "p99": 2000 / rps, "cpu": 1.0, "db_cpu": 1.0, "runs": 1, "bad": 0}


def test_the_report_gains_the_baseline_rows_and_its_ratios(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = config_from(
        monkeypatch, BENCH_BASELINE="HEAD~1", BENCH_SERVERS="ours,ours-before", BENCH_OPERATIONS="feed"
    )
    baseline = baseline_at(tmp_path)
    servers = all_servers(config, baseline)
    medians = {(OURS, "feed"): row(200.0), (BASELINE, "feed"): row(100.0)}
    report = tmp_path / "RESULTS.md"
    write_report(config, servers, chosen(config.operations), context(baseline), medians, {}, report)
    text = report.read_text()
    assert "| feed | ours-before | 100.0 |" in text
    assert "## Ratios (ours ÷ ours-before, the working tree against `012345678`)" in text
    assert "| feed | 2.00x | 0.50x | 0.50x | 1.00x | - → - |" in text
    assert "## Ratios (ours ÷ peer)" not in text  # neither PostGraphile nor the N+1 server ran


def test_without_a_baseline_the_report_has_no_baseline_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = config_from(monkeypatch)
    report = tmp_path / "RESULTS.md"
    write_report(config, all_servers(config), OPERATIONS, context(None), {}, {}, report)
    text = report.read_text()
    assert "ours-before" not in text and "## Ratios (ours ÷ peer)" in text
