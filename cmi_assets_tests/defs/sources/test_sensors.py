"""The landing sensors, evaluated against a real (ephemeral) instance and a real folder."""

from __future__ import annotations

import json
import os
import statistics
import time

import dagster as dg

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.sensors import InstanceLedger, build_landing_sensor
from cmi_assets.sources import landed_files, load_spec
from cmi_assets.sources.landing_watch import observe_folder


def _evaluate(sensor, instance, cursor, storage):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
    result = sensor(context)
    # Apply what the daemon would apply: partitions first, then remember the cursor.
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _land(folder, name, text, age_seconds=3600):
    path = folder / name
    path.write_text(text)
    old = time.time() - age_seconds
    os.utime(path, (old, old))
    return path


def test_landing_sensor_adds_partitions_and_requests_runs(storage_env):
    instance = dg.DagsterInstance.ephemeral()
    storage = StorageResource()
    folder = storage_env.landing_dir / "births"
    folder.mkdir(parents=True)
    sensor = build_landing_sensor(load_spec("births"))

    _land(folder, "births_registrations_2019.csv", "a\n1\n")
    _land(folder, "births_registrations_2020.csv.part", "still uploading")  # temporary suffix: ignored
    result = _evaluate(sensor, instance, None, storage)
    assert [r.partition_key for r in result.run_requests] == ["births_registrations_2019.csv"]
    assert instance.get_dynamic_partitions("births_extracts") == ["births_registrations_2019.csv"]

    # Nothing new: no run, and the same file is one partition.
    result = _evaluate(sensor, instance, result.cursor, storage)
    assert result.run_requests == []
    assert "1 file(s) in landing/births/, none new or changed" in str(result.skip_reason)

    # A fresh file still being written waits a tick, then runs.
    fresh = _land(folder, "births_registrations_2020.csv", "a\n1\n2\n", age_seconds=0)
    result = _evaluate(sensor, instance, result.cursor, storage)
    assert result.run_requests == []
    result = _evaluate(sensor, instance, result.cursor, storage)
    assert [r.partition_key for r in result.run_requests] == ["births_registrations_2020.csv"]

    # A corrected file with the same name: new content, new run on the same partition.
    fresh.write_text("a\n1\n2\n3\n")
    old = time.time() - 3600
    os.utime(fresh, (old, old))
    result = _evaluate(sensor, instance, result.cursor, storage)
    assert [r.partition_key for r in result.run_requests] == ["births_registrations_2020.csv"]
    assert sorted(instance.get_dynamic_partitions("births_extracts")) == [
        "births_registrations_2019.csv",
        "births_registrations_2020.csv",
    ]
    run_keys = {r.run_key for r in result.run_requests}
    assert all(key.startswith("births_registrations_2020.csv:") for key in run_keys)


def test_tick_over_thousands_of_settled_files_costs_about_a_folder_listing_and_the_cursor_stays_small(storage_env):
    """3,000 files already loaded: a tick hashes nothing and costs a few times what any
    sensor pays to stat the folder (a no-op sensor that only lists it), and the cursor the
    UI shows is a few dozen bytes; the per-file ledger sits in the instance's key-value store."""
    instance = dg.DagsterInstance.ephemeral()
    storage = StorageResource()
    folder = storage_env.landing_dir / "births"
    folder.mkdir(parents=True)
    for i in range(3000):
        _land(folder, f"births_registrations_{i:05d}.csv", f"a\n{i}\n")
    sensor = build_landing_sensor(load_spec("births"))

    first = _evaluate(sensor, instance, None, storage)
    assert len(first.run_requests) == 3000
    assert len(instance.get_dynamic_partitions("births_extracts")) == 3000
    cursor = json.loads(first.cursor)
    assert len(first.cursor) < 100 and cursor["files"] == 3000 and cursor["settling"] == {}
    assert InstanceLedger(instance, "landing_births").read()  # the ledger is in the instance

    @dg.sensor(name="noop_listing")
    def noop_listing(context):
        # What any sensor watching the folder pays: one stat per file.
        return dg.SkipReason(f"{sum(1 for e in os.scandir(folder) if e.stat().st_size >= 0)} files")

    def timed(evaluate):
        started = time.perf_counter()
        result = evaluate()
        return time.perf_counter() - started, result

    steady, noop = [], []
    for _ in range(7):  # interleaved, so a busy machine slows both alike
        seconds, result = timed(lambda: _evaluate(sensor, instance, first.cursor, storage))
        assert result.run_requests == [] and result.cursor == first.cursor
        steady.append(seconds)
        noop.append(timed(lambda: noop_listing(dg.build_sensor_context(instance=instance)))[0])
    ratio = statistics.median(steady) / statistics.median(noop)
    print(
        f"steady tick {statistics.median(steady) * 1000:.1f} ms, no-op listing {statistics.median(noop) * 1000:.1f} ms, ratio {ratio:.1f}"
    )
    assert ratio < 5, (steady, noop)

    # One new file among the 3,000: one request, the cursor still tiny.
    _land(folder, "births_registrations_99999.csv", "a\n1\n")
    result = _evaluate(sensor, instance, first.cursor, storage)
    assert [r.partition_key for r in result.run_requests] == ["births_registrations_99999.csv"]
    assert json.loads(result.cursor)["files"] == 3001 and len(result.cursor) < 100


def test_a_lost_ledger_loads_nothing_twice(storage_env):
    """Instance key-value store cleared (or the cursor set by hand): the next tick re-hashes
    the files once and compares with the hash each partition's materialization recorded."""
    instance = dg.DagsterInstance.ephemeral()
    storage = StorageResource()
    folder = storage_env.landing_dir / "reference"
    folder.mkdir(parents=True)
    _land(folder, "reference_areas_2021.csv", "postcode,county_fips,office_code,deprivation_decile\n06001,001,O01,3\n")
    sensor = build_landing_sensor(load_spec("reference"))
    first = _evaluate(sensor, instance, None, storage)
    assert len(first.run_requests) == 1
    from cmi_assets.defs.sources.assets import RAW_ASSETS

    raw = next(a for a in RAW_ASSETS if a.key == dg.AssetKey("raw_reference"))
    assert dg.materialize(
        [raw], instance=instance, partition_key="reference_areas_2021.csv", resources={"storage": storage}
    ).success
    InstanceLedger(instance, "landing_reference").write("")
    result = _evaluate(sensor, instance, first.cursor, storage)
    assert result.run_requests == []
    assert json.loads(result.cursor)["files"] == 1


def test_observe_folder_lists_what_landed_files_lists(storage_env):
    folder = storage_env.landing_dir / "births"
    folder.mkdir(parents=True)
    for name in ("a.csv", "b.csv.part", "c.CSV.TMP", ".hidden.csv", "d.txt", "e.partial"):
        _land(folder, name, "x")
    (folder / "subfolder").mkdir()
    assert sorted(o.name for o in observe_folder(folder)) == [
        f.name for f in landed_files(storage_env.landing_dir, "births")
    ]
    assert sorted(o.name for o in observe_folder(folder)) == ["a.csv", "d.txt"]


def test_landing_sensors_start_running():
    from cmi_assets.definitions import defs

    sensors = [s for s in defs().sensors if s.name.startswith("landing_")]
    assert len(sensors) >= 5
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors)
