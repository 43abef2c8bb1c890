"""Declarative automation, driven with evaluate_automation_conditions on a real instance:
a good extract triggers the staged model, a quarantined one does not, and the next good
extract still does (a failed extract never stalls the graph)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import pytest

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.defs.staging.assets import SQL_MODEL_ASSETS

_spec = importlib.util.spec_from_file_location("raw_asset_tests", Path(__file__).parent / "sources" / "test_assets.py")
raw_asset_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(raw_asset_tests)


def test_staged_model_follows_good_extracts_and_ignores_quarantined_ones(storage_env):
    raw = next(a for a in RAW_ASSETS if a.key == dg.AssetKey("raw_births"))
    stg = next(a for a in SQL_MODEL_ASSETS if a.key == dg.AssetKey("stg_births_registrations"))
    defs = dg.Definitions(assets=[raw, stg], resources={"storage": StorageResource()})
    instance = dg.DagsterInstance.ephemeral()
    resources = {"storage": StorageResource()}

    def land_and_load(name, rows):
        raw_asset_tests._land(storage_env, name, rows)
        instance.add_dynamic_partitions("births_extracts", [name])
        dg.materialize([raw], instance=instance, partition_key=name, resources=resources, raise_on_error=False)

    def evaluate(cursor):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        return result, result.get_num_requested(stg.key)

    result, requested = evaluate(None)
    assert requested == 0  # nothing landed yet

    land_and_load("births_registrations_2010.csv", [raw_asset_tests._row("B000000001", "Ann")])
    result, requested = evaluate(result.cursor)
    assert requested == 1
    dg.materialize([raw, stg], selection=[stg.key], instance=instance, resources=resources)
    result, requested = evaluate(result.cursor)
    assert requested == 0  # up to date

    land_and_load("births_registrations_2011.csv", [raw_asset_tests._row("B000000002", "Bo", dob="2011-13-45")])
    result, requested = evaluate(result.cursor)
    assert requested == 0  # the quarantined extract failed its blocking check: no propagation

    land_and_load("births_registrations_2012.csv", [raw_asset_tests._row("B000000003", "Cy")])
    result, requested = evaluate(result.cursor)
    assert requested == 1  # a later good extract is not stalled by the failed one


def test_automation_sensor_starts_running_and_targets_everything():
    from cmi_assets.definitions import defs

    sensor = next(s for s in defs().sensors if s.name == "automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_annual_schedules_run_in_one_configurable_time_zone(monkeypatch):
    from cmi_assets.defs.automation import schedule_timezone
    from cmi_assets.defs.cfsr.schedules import cfsr_annual
    from cmi_assets.defs.prm.schedules import prm_annual_refresh

    assert cfsr_annual.execution_timezone == prm_annual_refresh.execution_timezone == "America/New_York"
    monkeypatch.setenv("CMI_SCHEDULE_TIMEZONE", "America/Chicago")
    assert schedule_timezone() == "America/Chicago"
    monkeypatch.setenv("CMI_SCHEDULE_TIMEZONE", "Central Time")
    with pytest.raises(ValueError, match="CMI_SCHEDULE_TIMEZONE='Central Time' is not an IANA time zone"):
        schedule_timezone()
