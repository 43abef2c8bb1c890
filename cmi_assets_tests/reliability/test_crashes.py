"""kill -9 in the middle of a write: a raw load, the person spine, a cohort partition.

Each materialization runs in its own process (materialize_in_subprocess.py) on the
module's DAGSTER_HOME and DuckDB files, pauses at a chosen statement, and is SIGKILLed
there. A killed run never tells the instance it ended, so it stays STARTED and keeps its
duckdb_write slot; the run_recovery sensor's function marks it failed and frees the slot,
and the rerun must then succeed with no duplicate rows and no half-written partition.

Base: the small world's 2018-2021 files, loaded by the library (the raw loads under test
go through Dagster), staged and linked up to person_links in one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from cmi_assets.defs.run_recovery import fail_abandoned_runs
from cmi_assets.sources import all_specs, ensure_raw_tables, ingest_extract, landed_files
from cmi_assets.storage import IDENTIFIED, WAREHOUSE, Storage
from cmi_assets_tests.reliability.harness import (
    PERSON_AGENCIES,
    cmi_environment,
    generate_source_world,
    land_files,
    materialize_in_process,
    register_partitions,
    start_subprocess_run,
    write_instance_yaml,
    yearly_files,
)

YEARS = (2018, 2019, 2020, 2021)
AGENCIES = (*PERSON_AGENCIES, "reference")  # the event tables place people in areas
COHORT_YEARS = "2018,2019"  # the subprocesses' birth-year partitions (read when the code location loads)
LINKED_UP_TO = ["person_records", "linkage_model", "person_links"]
SPINE_TABLES = ("person_spine", "person_spine_previous", "person_key_events")


@dataclass
class World:
    instance: dg.DagsterInstance
    storage: Storage
    runs: Path  # logs and pause markers of the subprocess runs

    def query(self, zone: str, sql: str, params: list | None = None) -> list[tuple]:
        with self.storage.connect(zone, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def scalar(self, zone: str, sql: str, params: list | None = None):
        return self.query(zone, sql, params)[0][0]

    def table_exists(self, zone: str, table: str) -> bool:
        schema, name = table.split(".")
        return bool(
            self.scalar(
                zone,
                "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                [schema, name],
            )
        )

    def recover(self) -> list[str]:
        """What the run_recovery sensor does on its next tick."""
        return fail_abandoned_runs(self.instance)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("crashes")
    home = write_instance_yaml(root / "dagster_home")
    with cmi_environment(root / "data", home, CMI_COHORT_YEARS=COHORT_YEARS):
        storage = Storage.from_env()
        land_files(yearly_files(generate_source_world(root / "source"), YEARS, AGENCIES), storage.landing_dir)
        with storage.connect(IDENTIFIED) as con:
            for agency in AGENCIES:
                spec = all_specs()[agency]
                ensure_raw_tables(con, spec)
                for landed in landed_files(storage.landing_dir, agency):
                    assert ingest_extract(con, spec, landed, storage.quarantine_dir).loaded, landed.name
        with dg.DagsterInstance.get() as instance:
            register_partitions(instance, storage.landing_dir)
            staged = [f"stg_{a}_{rt}" for a in AGENCIES for rt in all_specs()[a].record_types]
            assert materialize_in_process(instance, staged + LINKED_UP_TO, with_checks=False).success
            yield World(instance, storage, root / "runs")


def _kill_at(
    world: World, name: str, assets: list[str], pause_at: str, partition: str | None = None, after=False
) -> str:
    """Start a run, SIGKILL it at the statement, and return its run ID (from the instance)."""
    known = {run.run_id for run in world.instance.get_runs()}
    run = start_subprocess_run(assets, world.runs, name, partition=partition, pause_at=pause_at, pause_after=after)
    run.wait_until_paused()
    run.kill()
    started = [r for r in world.instance.get_runs() if r.run_id not in known]
    assert len(started) == 1 and started[0].status == dg.DagsterRunStatus.STARTED, [r.status for r in started]
    return started[0].run_id


def _rerun(world: World, name: str, assets: list[str], partition: str | None = None) -> int:
    run = start_subprocess_run(assets, world.runs, name, partition=partition)
    code = run.wait()
    assert code == 0, run.tail()
    return code


def _recover(world: World, killed: str) -> str:
    recovered = world.recover()
    status = world.instance.get_run_by_id(killed).status
    held = world.instance.event_log_storage.get_concurrency_run_ids()
    assert recovered == [killed] and status == dg.DagsterRunStatus.FAILURE and not held, (recovered, status, held)
    return "the killed run marked failed and its duckdb_write slot freed"


# ---- a raw load ---------------------------------------------------------------------------------


RAW_FILE, RAW_TABLE = "births_registrations_2019.csv", "raw.births__registrations"


def _raw_state(world: World) -> dict:
    rows = dict(world.query(IDENTIFIED, f"select _extract_file, count(*) from {RAW_TABLE} group by 1"))
    duplicates = world.scalar(
        IDENTIFIED, f"select count(*) - count(distinct (_extract_file, reg_number)) from {RAW_TABLE}"
    )
    return {
        "file": rows.get(RAW_FILE, 0),
        "others": {f: n for f, n in rows.items() if f != RAW_FILE},
        "duplicates": duplicates,
    }


def _redeliver_without_last_rows(world: World, rows: int) -> int:
    """A corrected re-delivery of RAW_FILE with its last `rows` rows withdrawn; returns its data rows."""
    path = world.storage.landing_dir / "births" / RAW_FILE
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-rows]), encoding="utf-8")
    return len(lines) - rows - 1


@pytest.mark.parametrize(
    "case, pause_at, after",
    [
        (
            "inside the load's transaction (the earlier rows already deleted)",
            r"^INSERT INTO raw\.births__registrations",
            False,
        ),
        ("after the load's commit, before Dagster records the materialization", r"^commit$", True),
    ],
    ids=["inside_transaction", "after_commit"],
)
def test_kill_during_a_raw_load(world, reliability_log, case, pause_at, after):
    before = _raw_state(world)
    delivered = _redeliver_without_last_rows(world, 3)
    killed = _kill_at(world, f"raw_{after}", ["raw_births"], pause_at, partition=RAW_FILE, after=after)
    after_kill = _raw_state(world)
    recovery = _recover(world, killed)
    _rerun(world, f"raw_rerun_{after}", ["raw_births"], partition=RAW_FILE)
    after_rerun = _raw_state(world)

    held_after_kill = delivered if after else before["file"]
    observed = (
        f"after the kill: {after_kill['file']} rows of the file (the old delivery had {before['file']}, the new one "
        f"{delivered}), other files {'unchanged' if after_kill['others'] == before['others'] else 'CHANGED'}; {recovery}; "
        f"rerun succeeded: {after_rerun['file']} rows, {after_rerun['duplicates']} duplicate keys, other files "
        f"{'unchanged' if after_rerun['others'] == before['others'] else 'CHANGED'}"
    )
    expected = (
        f"the kill leaves the {'new' if after else 'old'} delivery's rows whole (a transaction is all or nothing); "
        "the rerun loads the new delivery once; no other file touched"
    )
    reliability_log.record("crash", f"raw_births partition killed {case}", expected, observed)
    assert after_kill["file"] == held_after_kill and after_kill["others"] == before["others"], observed
    assert after_rerun == {"file": delivered, "others": before["others"], "duplicates": 0}, observed


# ---- the person spine ---------------------------------------------------------------------------


def _spine_state(world: World) -> dict:
    if not world.table_exists(IDENTIFIED, "linkage.person_spine"):
        return {"spine": None, "events": world.table_exists(IDENTIFIED, "linkage.person_key_events")}
    records = world.scalar(IDENTIFIED, "select count(*) from linkage.person_records")
    spine = world.query(
        IDENTIFIED,
        "select count(*), count(distinct (unique_id, level)), count(distinct level) from linkage.person_spine",
    )[0]
    keys_without_one_new_event = world.scalar(
        IDENTIFIED,
        """
        select count(*) from (select distinct level, person_key from linkage.person_spine) s
        where (select count(*) from linkage.person_key_events e
               where e.level = s.level and e.person_key = s.person_key and e.event = 'new') <> 1""",
    )
    return {
        "records": records,
        "rows": spine[0],
        "distinct": spine[1],
        "levels": spine[2],
        "keys_without_one_new_event": keys_without_one_new_event,
    }


def test_kill_during_the_first_person_spine(world, reliability_log):
    with world.storage.connect(IDENTIFIED) as con:  # the first spine of this world
        con.execute("drop view if exists linkage.person_clusters")
        for table in SPINE_TABLES:
            con.execute(f"drop table if exists linkage.{table}")
    killed = _kill_at(world, "spine", ["person_spine"], r"^CREATE OR REPLACE TABLE linkage\.person_spine\b", after=True)
    after_kill = _spine_state(world)
    recovery = _recover(world, killed)
    _rerun(world, "spine_rerun", ["person_spine"])
    spine = _spine_state(world)

    observed = (
        f"after the kill (spine table just replaced, key events not yet written): spine table "
        f"{'absent' if after_kill['spine'] is None else 'PRESENT'}, key events {'PRESENT' if after_kill['events'] else 'absent'}; "
        f"{recovery}; rerun succeeded: {spine['rows']} spine rows = {spine['levels']} levels x {spine['records']} records, "
        f"{spine['rows'] - spine['distinct']} duplicates, {spine['keys_without_one_new_event']} keys without exactly one 'new' event"
    )
    reliability_log.record(
        "crash",
        "person_spine killed between writing the spine and its key events",
        "nothing of the killed run remains (one transaction); the rerun writes one row per record and level, and every "
        "key has its 'new' event",
        observed,
    )
    assert after_kill == {"spine": None, "events": False}, observed
    assert spine["rows"] == spine["distinct"] == spine["levels"] * spine["records"] and spine["levels"] == 2, observed
    assert spine["keys_without_one_new_event"] == 0, observed


# ---- a cohort partition -------------------------------------------------------------------------


def _cohort_rows(world: World) -> dict[int, int]:
    if not world.table_exists(WAREHOUSE, "cohorts.population"):
        return {}
    return dict(world.query(WAREHOUSE, "select birth_year, count(*) from cohorts.population group by 1"))


def _cohort_duplicates(world: World) -> int:
    return world.scalar(
        WAREHOUSE, "select count(*) - count(distinct (birth_year, linkage_level, person_key)) from cohorts.population"
    )


def _study_population(world: World, birth_year: int) -> int:
    """The rows a complete partition holds, computed from the event tables directly."""
    from cmi_assets.cohorts import first_observations

    with world.storage.connect(WAREHOUSE, read_only=True) as con:
        return sum(
            first_observations(con, birth_year, level).filter("in_study_population").height
            for level in ("conservative", "less_conservative")
        )


@pytest.fixture(scope="module")
def event_tables(world):
    assert world.recover() == []
    assert materialize_in_process(world.instance, ["person_spine", "event_tables"], with_checks=False).success
    _rerun(world, "cohort_2018", ["cohort_population"], partition="2018")
    return {year: _study_population(world, year) for year in (2018, 2019)}


@pytest.mark.parametrize(
    "case, year",
    [("the first write of a new partition (2019)", 2019), ("a rewrite of an existing partition (2018)", 2018)],
    ids=["new_partition", "rewritten_partition"],
)
def test_kill_during_a_cohort_partition(world, event_tables, reliability_log, case, year):
    before = _cohort_rows(world)
    killed = _kill_at(
        world, f"cohort_{year}", ["cohort_population"], r"^insert into cohorts\.population\b", partition=str(year)
    )
    after_kill = _cohort_rows(world)
    recovery = _recover(world, killed)
    _rerun(world, f"cohort_rerun_{year}", ["cohort_population"], partition=str(year))
    after_rerun, duplicates = _cohort_rows(world), _cohort_duplicates(world)

    other = 2018 if year == 2019 else 2019
    observed = (
        f"after the kill (its rows deleted, the new ones not yet inserted): {after_kill.get(year, 0)} rows of {year} "
        f"(before: {before.get(year, 0)}), {after_kill.get(other, 0)} of {other} (before: {before.get(other, 0)}); "
        f"{recovery}; rerun succeeded: {after_rerun.get(year, 0)} rows of {year} (the study population is "
        f"{event_tables[year]}), {duplicates} duplicates"
    )
    reliability_log.record(
        "crash",
        f"cohort_population killed during {case}",
        "the partition holds what it held before the run (nothing, or its old rows), other partitions untouched; "
        "the rerun writes the whole study population once",
        observed,
    )
    assert after_kill == before, observed
    assert after_rerun == {**before, year: event_tables[year]} and duplicates == 0, observed
