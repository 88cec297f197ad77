"""Metrics of several worker processes (`conduit serve --workers N`), in one scrape.

A scrape reaches one worker, which knows only its own numbers. So with `PROMETHEUS_MULTIPROC_DIR`
set (`conduit serve` makes a temporary one when it starts more than one worker) every worker also
writes its series to files of its own there, in prometheus-client's multiprocess format, and a
scrape answers with prometheus-client's `MultiProcessCollector`, which adds up every worker's
files: counters and histograms are summed (a worker that exited still counts: its requests
happened), and the pool gauges are `livesum`, the sum over the workers alive, which is what the
database's `max_connections` is spent on. A worker removes its gauges when it stops
(`mark_process_dead`), and a scrape removes those of workers that died without stopping.

The writes are prometheus-client's memory-mapped dictionaries, done where the worker counts
(one event loop thread, so no lock): a request's counts are in the files when its response is.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

#: The environment variable prometheus-client reads (declared in db/settings.py too).
DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGES = "gauge_livesum"


class ProcessFiles:
    """This worker's series in the shared directory, and the registry a scrape reads."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(self.registry, directory)
        self._files: dict[str, MmapedDict] = {}
        self._keys: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], str] = {}

    def counter(
        self, name: str, documentation: str, labels: Sequence[str], values: Sequence[str], total: float
    ) -> None:
        self._write("counter", name, f"{name}_total", documentation, labels, values, total)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        values: Sequence[str],
        bound: str,
        in_bucket: float,
        total: float,
    ) -> None:
        """One bucket's own count (not cumulative: the collector adds them up) and the sum."""
        labels_le, values_le = (*labels, "le"), (*values, bound)
        self._write("histogram", name, f"{name}_bucket", documentation, labels_le, values_le, in_bucket)
        self._write("histogram", name, f"{name}_sum", documentation, labels, values, total)

    def gauge(self, name: str, documentation: str, value: float) -> None:
        """A gauge summed over the workers alive."""
        self._write(_LIVE_GAUGES, name, name, documentation, (), (), value)

    def prune_dead_workers(self) -> None:
        """Remove the live gauges of workers that are gone (killed, so they could not)."""
        for path in glob.glob(os.path.join(self.directory, f"{_LIVE_GAUGES}_*.db")):
            pid = int(Path(path).stem.rsplit("_", 1)[1])
            if pid != self.pid and not _alive(pid):
                mark_process_dead(pid, self.directory)

    def close(self) -> None:
        """This worker stops: its files closed, its live gauges removed (its counts stay)."""
        for file in self._files.values():
            file.close()
        self._files.clear()
        mark_process_dead(self.pid, self.directory)

    def _write(
        self,
        prefix: str,
        metric: str,
        sample: str,
        documentation: str,
        labels: Sequence[str],
        values: Sequence[str],
        value: float,
    ) -> None:
        cache = (prefix, sample, tuple(labels), tuple(values))
        key = self._keys.get(cache)
        if key is None:
            key = self._keys[cache] = mmap_key(metric, sample, list(labels), list(values), documentation)
        file = self._files.get(prefix)
        if file is None:
            file = self._files[prefix] = MmapedDict(os.path.join(self.directory, f"{prefix}_{self.pid}.db"))
        file.write_value(key, value, 0.0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


@contextlib.contextmanager
def workers_directory(workers: int) -> Iterator[str | None]:
    """The directory the workers of one `conduit serve` share, while it runs.

    `PROMETHEUS_MULTIPROC_DIR` when set (emptied first: files of an earlier run would be counted
    again), else a temporary directory when there is more than one worker (removed at the end);
    None, and nothing shared, for one worker. The workers find it in their environment.
    """
    given = os.environ.get(DIRECTORY_VARIABLE)
    if given:
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        yield given
        return
    if workers <= 1:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="conduit-metrics-")
    os.environ[DIRECTORY_VARIABLE] = directory
    try:
        yield directory
    finally:
        del os.environ[DIRECTORY_VARIABLE]
        shutil.rmtree(directory, ignore_errors=True)
