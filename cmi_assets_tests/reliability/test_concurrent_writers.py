"""Two runs writing one DuckDB file at once, each in its own process (as two launched runs
are): DuckDB lets one process write a file, so the second must wait or fail cleanly and be
retried, and no row of either may be lost.

Run A loads a births extract and pauses inside its load transaction, holding the file;
run B, started then, loads a health extract into the same identified.duckdb:
  - with the duckdb_write pool (deploy/dagster.yaml: one slot), B's step waits for the slot;
  - on an instance without the pool, B's connection waits for DuckDB's lock;
  - with a lock wait shorter than A's hold, B fails with DuckDB's lock message (no value
    in it), loads nothing, and its retry after A loads the file.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from cmi_assets.storage import IDENTIFIED, Storage
from cmi_assets_tests.reliability.harness import (
    SubprocessRun,
    cmi_environment,
    generate_source_world,
    land_files,
    register_partitions,
    start_subprocess_run,
    write_instance_yaml,
    yearly_files,
)

PAUSE_IN_LOAD = r"^INSERT INTO raw\.births__registrations"
BLOCKED = "blocked by limit for pool duckdb_write"
LOCK_MESSAGE = "is locked by another process (PID"
LOCK_WAITING = re.compile(r"is locked by another process \(PID \d+, [^)]+\); waiting up to")


@dataclass
class Writers:
    storage: Storage
    root: Path
    source_landing: Path

    def rows(self, table: str, file_name: str) -> int:
        with self.storage.connect(IDENTIFIED, read_only=True) as con:
            if not con.execute(
                "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?", [table]
            ).fetchone()[0]:
                return 0
            return con.execute(f"select count(*) from raw.{table} where _extract_file = ?", [file_name]).fetchone()[0]


@pytest.fixture(scope="module")
def writers(tmp_path_factory):
    root = tmp_path_factory.mktemp("writers")
    with cmi_environment(root / "data"):
        yield Writers(Storage.from_env(), root, generate_source_world(root / "source"))


def _data_rows(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


def _run_id(run: SubprocessRun) -> str:
    match = re.search(r"^run (\S+) success=", run.output(), re.MULTILINE)
    assert match, run.tail()
    return match.group(1)


def _step_events(instance: dg.DagsterInstance, run_id: str, step: str) -> dict[str, float]:
    """First timestamp of each event type of one step."""
    times: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        if record.step_key == step and record.dagster_event is not None:
            times.setdefault(record.dagster_event.event_type_value, record.timestamp)
    return times


def _engine_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [r.message for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)]


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return "\n".join(str(r.dagster_event.event_specific_data.error) for r in records)


def _wait_for(condition, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _new_run_id(instance: dg.DagsterInstance, known: set[str]) -> str | None:
    new = [run.run_id for run in instance.get_runs() if run.run_id not in known]
    return new[0] if new else None


SCENARIOS = {
    "pool": dict(
        pool_limit=1,
        lock_wait=None,
        expected="serialised by the duckdb_write pool: B's step waits for A's slot; both loads complete",
    ),
    "lock": dict(
        pool_limit=None,
        lock_wait=None,
        expected="no pool: B's connection waits for DuckDB's lock (storage.connect_waiting_for_lock); "
        "both loads complete",
    ),
    "lock_timeout": dict(
        pool_limit=None,
        lock_wait="1",
        expected="no pool and a 1 s lock wait: B fails cleanly with one line naming the file, its holder and what to close, and loads "
        "nothing; its retry loads the file; nothing lost",
    ),
}
YEARS = {"pool": 2019, "lock": 2020, "lock_timeout": 2021}


def _b_is_waiting(instance, scenario: str, second: SubprocessRun, known: set[str]):
    """When B is known to wait (or to have given up): then A may go on."""

    def check() -> bool:
        if scenario == "lock_timeout":
            return second.process.poll() is not None
        if scenario == "lock":
            return LOCK_WAITING.search(second.output()) is not None
        run_id = _new_run_id(instance, known)
        return run_id is not None and any(BLOCKED in m for m in _engine_messages(instance, run_id))

    return check


@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
def test_two_runs_write_one_duckdb_file(writers, reliability_log, scenario):
    settings = SCENARIOS[scenario]
    home = write_instance_yaml(writers.root / f"home_{scenario}", settings["pool_limit"])
    sources = [
        p
        for p in yearly_files(writers.source_landing, (YEARS[scenario],), ("births", "health"))
        if p.name.startswith(("births_", "health_maternity_"))
    ]
    births, health = land_files(sources, writers.storage.landing_dir)
    env = {"DAGSTER_HOME": str(home)}
    runs = writers.root / "runs"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_partitions(instance, writers.storage.landing_dir)
        started: list[SubprocessRun] = []
        try:
            first = start_subprocess_run(
                ["raw_births"],
                runs,
                f"{scenario}_a",
                partition=births.name,
                pause_at=PAUSE_IN_LOAD,
                pause_seconds=120,
                env=env,
            )
            started.append(first)
            first.wait_until_paused()
            known = {run.run_id for run in instance.get_runs()}
            second_env = {
                **env,
                **({"CMI_DUCKDB_LOCK_WAIT_SECONDS": settings["lock_wait"]} if settings["lock_wait"] else {}),
            }
            second = start_subprocess_run(["raw_health"], runs, f"{scenario}_b", partition=health.name, env=second_env)
            started.append(second)
            _wait_for(_b_is_waiting(instance, scenario, second, known), what=f"run B to wait ({scenario})")
            first.release()
            codes = (first.wait(), second.wait())
        finally:
            for run in started:  # a failed expectation must not leave a run holding the file
                run.kill()
        a, b = _run_id(first), _run_id(second)
        a_step, b_step = _step_events(instance, a, "raw_births"), _step_events(instance, b, "raw_health")
        blocked = any(BLOCKED in m for m in _engine_messages(instance, b))
        lock_waited = LOCK_WAITING.search(second.output()) is not None
        failure = _failure_message(instance, b)
        rows_after_both = writers.rows("health__maternity", health.name)
        retried = None
        if codes[1] != 0:
            retried = start_subprocess_run(
                ["raw_health"], runs, f"{scenario}_retry", partition=health.name, env=env
            ).wait()

    loaded = {
        "births": writers.rows("births__registrations", births.name),
        "health": writers.rows("health__maternity", health.name),
    }
    delivered = {"births": _data_rows(births), "health": _data_rows(health)}
    b_after_a = b_step.get("STEP_START", 0) >= a_step.get("STEP_SUCCESS", float("inf"))
    observed = "; ".join(
        filter(
            None,
            [
                f"A {'succeeded' if codes[0] == 0 else 'FAILED'}, B {'succeeded' if codes[1] == 0 else 'failed'}",
                "B's step waited for the pool slot and started after A's step ended" if blocked and b_after_a else None,
                "B's step started at once (no pool)" if not blocked else None,
                "B waited for DuckDB's lock" if lock_waited and codes[1] == 0 else None,
                (
                    f"B failed after waiting 1 s for DuckDB's lock: {'one line naming the file, its holder and what to close' if LOCK_MESSAGE in failure else 'ANOTHER ERROR'}, "
                    f"{rows_after_both} rows loaded by B"
                    if codes[1] != 0
                    else None
                ),
                f"retry {'succeeded' if retried == 0 else 'FAILED'}" if retried is not None else None,
                "rows loaded = rows delivered for both files"
                if loaded == delivered
                else f"ROWS LOST: {loaded} of {delivered}",
            ],
        )
    )
    reliability_log.record(
        "concurrency",
        f"A (raw_births) holds identified.duckdb in its load, B (raw_health) starts: {scenario}",
        settings["expected"],
        observed,
    )

    assert codes[0] == 0 and loaded == delivered, observed
    if scenario == "pool":
        assert codes[1] == 0 and blocked and b_after_a and not lock_waited, observed
    elif scenario == "lock":
        assert codes[1] == 0 and not blocked and lock_waited, observed
    else:
        assert codes[1] != 0 and LOCK_MESSAGE in failure and rows_after_both == 0 and retried == 0, observed
