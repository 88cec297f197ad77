"""`conduit serve --workers 2`: one scrape of /metrics counts the requests of both workers
(prometheus-client's multiprocess mode, graph/telemetry/multiprocess.py)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from graph.telemetry.multiprocess import DIRECTORY_VARIABLE, workers_directory
from tests.support.servers import conduit_serve

QUERY = {"query": "query Counted { __typename }"}


def scraped(base: str) -> dict[str, float]:
    """Samples of one scrape, by name and labels."""
    text = httpx.get(f"{base}/metrics", headers={"connection": "close"}).text
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def counted(samples: dict[str, float]) -> float:
    return samples["conduit_graphql_requests_total[('operation', 'Counted'), ('operation_type', 'query')]"]


def workers_with_files(directory: Path, kind: str) -> set[str]:
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob(f"{kind}_*.db")}


def test_one_scrape_counts_every_worker(migrated_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"a stale file of an earlier run")
    with conduit_serve(migrated_url, "--workers", "2", **{DIRECTORY_VARIABLE: str(directory)}) as (base, _):
        sent = 0
        # A new connection per request, so that both workers get some; their files say which served.
        while len(workers_with_files(directory, "counter")) < 2:
            assert sent < 500, "one worker served every request"
            response = httpx.post(f"{base}/graphql", json=QUERY, headers={"connection": "close"})
            assert response.status_code == 200
            sent += 1
        assert "1" not in workers_with_files(directory, "counter")  # emptied at start
        for _ in range(6):  # whichever worker answers the scrape
            samples = scraped(base)
            assert counted(samples) == sent
            assert (
                samples[
                    "conduit_graphql_request_duration_seconds_count"
                    "[('operation', 'Counted'), ('operation_type', 'query')]"
                ]
                == sent
            )
        assert len(workers_with_files(directory, "gauge_livesum")) == 2
    # Stopped, each worker removed its live gauges; its counts stay for the next scrape to sum.
    assert workers_with_files(directory, "gauge_livesum") == set()
    assert len(workers_with_files(directory, "counter")) == 2


def test_one_scrape_counts_every_worker_without_a_directory_given(migrated_url: str) -> None:
    """`conduit serve` makes the directory itself: the total is what was sent, scrape after scrape."""
    with conduit_serve(migrated_url, "--workers", "2") as (base, _):
        for _ in range(40):
            httpx.post(f"{base}/graphql", json=QUERY, headers={"connection": "close"})
        assert {counted(scraped(base)) for _ in range(6)} == {40}


def test_the_directory_is_made_for_several_workers_and_removed() -> None:
    with workers_directory(1) as none:
        assert none is None and DIRECTORY_VARIABLE not in os.environ
    with workers_directory(2) as made:
        assert made is not None and os.environ[DIRECTORY_VARIABLE] == made
        assert Path(made).is_dir()
    assert not Path(made).exists() and DIRECTORY_VARIABLE not in os.environ
