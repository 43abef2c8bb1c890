"""Materialize assets in this process, as `dagster asset materialize` would, with an
optional pause at a chosen DuckDB statement: the crash and concurrency tests start this
script in a subprocess, wait for the pause marker, then SIGKILL it (or let it go on).

    python materialize_in_subprocess.py --select person_spine [--partition 2018]
        [--pause-at REGEX] [--pause-after] [--pause-seconds N] [--marker PATH] [--release PATH]

The pause wraps duckdb.connect to a file (not in-memory databases) so that the real
connection runs every statement; just before (or after) the first statement matching
REGEX the process writes the marker file and sleeps (for N seconds, or until the release
file exists). Nothing else is replaced: the run, its instance (DAGSTER_HOME), the storage
resource and the DuckDB files are the real ones.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path


class PausingConnection:
    """A DuckDB connection that stops once at the first statement matching a pattern."""

    def __init__(self, connection, pause):
        self._connection = connection
        self._pause = pause

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._connection.close()

    def execute(self, query, *args, **kwargs):
        self._pause.maybe(query, before=True)
        result = self._connection.execute(query, *args, **kwargs)
        self._pause.maybe(query, before=False)
        return result


class Pause:
    def __init__(self, pattern: str, after: bool, seconds: float, marker: Path, release: Path | None):
        self.pattern = re.compile(pattern, re.IGNORECASE | re.DOTALL)
        self.after, self.seconds, self.marker, self.release = after, seconds, marker, release
        self.done = False

    def maybe(self, query, before: bool) -> None:
        if self.done or before == self.after or not isinstance(query, str) or not self.pattern.search(query):
            return
        self.done = True
        self.marker.write_text("paused\n")
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not (self.release and self.release.exists()):
            time.sleep(0.05)


def install_pause(pause: Pause) -> None:
    import duckdb

    connect = duckdb.connect

    def pausing_connect(database=":memory:", *args, **kwargs):
        connection = connect(database, *args, **kwargs)
        # Only the zones' files: the code location also builds models in memory as it loads.
        return connection if str(database) in ("", ":memory:") else PausingConnection(connection, pause)

    duckdb.connect = pausing_connect


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--select", required=True, help="comma-separated asset keys")
    parser.add_argument("--partition")
    parser.add_argument("--pause-at")
    parser.add_argument("--pause-after", action="store_true")
    parser.add_argument("--pause-seconds", type=float, default=3600.0)
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--release", type=Path)
    args = parser.parse_args(argv)
    if args.pause_at:
        install_pause(Pause(args.pause_at, args.pause_after, args.pause_seconds, args.marker, args.release))

    import dagster as dg

    from cmi_assets_tests.reliability.harness import selection_job

    job = selection_job(args.select.split(","))
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, partition_key=args.partition, raise_on_error=False)
    print(f"run {result.run_id} success={result.success}", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
