"""The landing sensors, evaluated against a real (ephemeral) instance and a real folder."""

from __future__ import annotations

import os
import time

import dagster as dg

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.sensors import build_landing_sensor
from cmi_assets.sources import load_spec


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


def test_landing_sensors_start_running():
    from cmi_assets.definitions import defs

    sensors = [s for s in defs().sensors if s.name.startswith("landing_")]
    assert len(sensors) >= 5
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors)
