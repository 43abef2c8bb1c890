"""The three pieces that keep writes whole when processes die or collide: a DuckDB
transaction (tables.transaction), a connection that waits for another process's lock
(storage.connect_waiting_for_lock) and the recovery of runs whose process died
(defs/run_recovery.py). End to end they are cases of cmi_assets_tests/reliability/."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import dagster as dg
import duckdb
import polars as pl
import pytest

from cmi_assets.defs.run_recovery import fail_abandoned_runs, process_alive
from cmi_assets.storage import connect_waiting_for_lock
from cmi_assets.tables import read_table, replace_partition_rows, transaction


def test_a_failing_transaction_leaves_the_table_as_it_was():
    con = duckdb.connect()
    replace_partition_rows(con, "t.rows", pl.DataFrame({"year": [2019, 2020], "n": [1, 2]}), "year", 2019)
    with pytest.raises(RuntimeError):
        with transaction(con):
            con.execute("delete from t.rows")
            raise RuntimeError("killed half-way")
    assert read_table(con, "t.rows", "order by year").rows() == [(2019, 1), (2020, 2)]
    with transaction(con):
        con.execute("delete from t.rows where year = 2019")
    assert read_table(con, "t.rows").rows() == [(2020, 2)]


HOLD_LOCK = """
import duckdb, pathlib, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)  # an analyst's read-only session
pathlib.Path(sys.argv[2]).write_text("holding")
while not pathlib.Path(sys.argv[3]).exists():
    time.sleep(0.05)
con.close()
"""


def test_a_writer_waits_for_a_read_only_session_elsewhere_then_says_what_to_close(tmp_path):
    database, holding, release = tmp_path / "zone.duckdb", tmp_path / "holding", tmp_path / "release"
    duckdb.connect(str(database)).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(database), str(holding), str(release)])
    try:
        while not holding.exists():
            assert holder.poll() is None
            time.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(duckdb.IOException) as raised:
            connect_waiting_for_lock(database, False, 0.5)
        assert time.monotonic() - started >= 0.5
        message = str(raised.value)
        assert "\n" not in message and message.startswith(f"{database} is locked by another process (PID {holder.pid},")
        assert "close that process's DuckDB connection" in message and "CMI_DUCKDB_LOCK_WAIT_SECONDS" in message
        release.write_text("go")
        connect_waiting_for_lock(database, False, 30).close()  # waits for the holder to let go
    finally:
        release.write_text("go")
        holder.wait(timeout=30)


def test_process_alive_tells_a_running_process_from_a_finished_one():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert process_alive(finished.pid) is False
    assert process_alive(os.getpid()) is True


def test_an_instance_in_memory_has_no_abandoned_runs():
    # Process IDs are only compared on a local SQLite instance (DAGSTER_HOME); the killed
    # runs themselves are recovered in cmi_assets_tests/reliability/test_crashes.py.
    assert fail_abandoned_runs(dg.DagsterInstance.ephemeral()) == []
