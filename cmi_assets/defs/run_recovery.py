"""Runs whose process died (kill -9, out of memory, a power cut) without telling the
instance: marked failed, and their duckdb_write slot given back.

Such a run stays STARTED for ever. While it does, the one slot of the duckdb_write pool
it held is never freed, so every later DuckDB writer waits for it ("Step blocked by limit
for pool duckdb_write"), and declarative automation waits for the run to finish. Dagster's
own run monitoring only notices dead run workers for launchers that can check them
(Kubernetes, ECS, Docker); the local launcher and `execute_in_process` (`cmi demo`) cannot.

A run is abandoned when it is still in progress, its events name the processes that ran
it (the engine event "Executing steps in process (pid: N)", or the run worker's), and none
of them is alive. Process IDs mean something on one machine only, so this acts on a local
SQLite instance (DAGSTER_HOME) alone; a Postgres deployment runs on several machines and
leaves this to its launcher's run monitoring.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.storage.runs import SqliteRunStorage  # the one test of "a single-machine instance"

RECOVERY_INTERVAL_SECONDS = 60
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def run_process_ids(instance: dg.DagsterInstance, run_id: str) -> set[int]:
    """Every process the run's engine events name (run worker, step processes)."""
    pids = set()
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        value = (getattr(data, "metadata", None) or {}).get("pid")
        text = getattr(value, "value", value)
        if text is not None and str(text).isdigit():
            pids.add(int(text))
    return pids


def process_alive(pid: int) -> bool:
    """Whether a process with this ID runs on this machine (a zombie has finished)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) said it exists


def abandoned_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """In-progress runs of a local instance all of whose processes are gone."""
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    abandoned = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        pids = run_process_ids(instance, run.run_id)
        if pids and not any(process_alive(pid) for pid in pids):
            abandoned.append(run)
    return abandoned


def fail_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark every abandoned run failed and free its concurrency slots; returns their IDs."""
    failed = []
    for run in abandoned_runs(instance):
        pids = ", ".join(str(pid) for pid in sorted(run_process_ids(instance, run.run_id)))
        instance.report_run_failed(
            run,
            f"Marked failed by the run_recovery sensor: its process (pid {pids}) is gone, it was killed or crashed.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed


@dg.sensor(
    name="run_recovery",
    description=(
        "Marks failed the runs whose process died without telling the instance (kill -9, out of memory) and frees "
        "the duckdb_write slot they held, so later DuckDB writers and automation do not wait for ever. Local "
        "(SQLite) instances only."
    ),
    minimum_interval_seconds=RECOVERY_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_recovery(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = fail_abandoned_runs(context.instance)
    if failed:
        context.log.warning(f"marked {len(failed)} abandoned run(s) failed and freed their slots: {', '.join(failed)}")
    return dg.SkipReason(f"{len(failed)} abandoned run(s) marked failed")
