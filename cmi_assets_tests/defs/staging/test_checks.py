"""The expectations check through Dagster: it runs with the staged asset and reports
counts, not values."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg

from cmi_assets.defs.resources import StorageResource
from cmi_assets.defs.sources.assets import RAW_ASSETS
from cmi_assets.defs.staging.assets import SQL_MODEL_ASSETS
from cmi_assets.defs.staging.checks import EXPECTATION_CHECKS

_spec = importlib.util.spec_from_file_location(
    "raw_asset_tests", Path(__file__).parents[1] / "sources" / "test_assets.py"
)
raw_asset_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(raw_asset_tests)


def test_expectations_check_runs_after_the_staged_model(storage_env):
    instance = dg.DagsterInstance.ephemeral()
    resources = {"storage": StorageResource()}
    raw = next(a for a in RAW_ASSETS if a.key == dg.AssetKey("raw_births"))
    stg = next(a for a in SQL_MODEL_ASSETS if a.key == dg.AssetKey("stg_births_registrations"))
    check = next(
        c for c in EXPECTATION_CHECKS if dg.AssetKey("stg_births_registrations") in {k.asset_key for k in c.check_keys}
    )
    name = "births_registrations_2010.csv"
    raw_asset_tests._land(
        storage_env, name, [raw_asset_tests._row("B000000001", "Ann"), raw_asset_tests._row("B000000002", "Bea")]
    )
    instance.add_dynamic_partitions("births_extracts", [name])
    dg.materialize([raw], instance=instance, partition_key=name, resources=resources)
    result = dg.materialize(
        [raw, stg, check], selection=dg.AssetSelection.assets(stg.key), instance=instance, resources=resources
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    evaluation = evaluations["expectations"]
    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["rows"].value == 2
    text = repr(evaluation.metadata) + (evaluation.description or "")
    assert "Ann" not in text and "Smith" not in text and "B000000001" not in text
