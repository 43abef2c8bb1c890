"""The PRM drift checks' decisions, the checks executed by Dagster on a real instance's
event log (a second materialization that drifts too far fails, with the numbers), and the
annual schedule."""

from __future__ import annotations

import dagster as dg
import pytest

from cmi_assets.defs.prm.checks import (
    MAX_AUC_DROP_ENV,
    MAX_SHARE_SHIFT_ENV,
    auc_drop_result,
    share_shift_result,
    top_share_composition_stable,
    validation_auc_not_dropped,
)
from cmi_assets.defs.prm.schedules import prm_annual_refresh
from cmi_assets.metadata import mapping_table


def test_auc_drop_passes_without_history_and_fails_beyond_the_tolerance():
    assert auc_drop_result(0.70, None, 0.05).passed
    assert auc_drop_result(None, 0.80, 0.05).passed
    assert auc_drop_result(0.76, 0.80, 0.05).passed
    assert not auc_drop_result(0.74, 0.80, 0.05).passed
    assert auc_drop_result(0.90, 0.80, 0.05).passed  # a better model is fine


def test_group_share_shift():
    before = {"ethnicity_aian": 0.30, "high_deprivation": 0.50}
    assert share_shift_result(before, None, 0.1).passed
    assert share_shift_result({"ethnicity_aian": 0.35, "high_deprivation": 0.45}, before, 0.1).passed
    result = share_shift_result({"ethnicity_aian": 0.45, "high_deprivation": 0.50}, before, 0.1)
    assert not result.passed and result.metadata["largest_shift_group"].value == "ethnicity_aian"


def test_annual_refresh_runs_on_1_march_targeting_the_prm_group():
    assert prm_annual_refresh.default_status == dg.DefaultScheduleStatus.RUNNING
    assert prm_annual_refresh.cron_schedule == "0 6 1 3 *"
    from cmi_assets.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def(prm_annual_refresh.job_name)
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert keys == {
        "prm_oracle_risk",
        "prm_model",
        "prm_scores",
        "prm_evaluation",
        "prm_study_models",
        "feasibility_report",
    }


def _materialized(instance: dg.DagsterInstance, asset: str, metadata: dict) -> None:
    """A materialization in the instance's event log, as prm_model / prm_evaluation record it."""
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, metadata=metadata))


def _execute(instance: dg.DagsterInstance, check) -> dg.AssetCheckEvaluation:
    """Run one check as Dagster does, in a job on the instance (it reads the event log)."""
    asset = check.check_specs_by_output_name[next(iter(check.check_specs_by_output_name))].asset_key
    definitions = dg.Definitions(
        assets=[dg.AssetSpec(asset)],
        asset_checks=[check],
        jobs=[dg.define_asset_job("drift", selection=dg.AssetSelection.checks(check))],
    )
    result = definitions.resolve_job_def("drift").execute_in_process(instance=instance, raise_on_error=False)
    assert result.success  # a failed check is a result, not a failed run
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


@pytest.mark.parametrize("second_auc, passed", [(0.70, False), (0.77, True), (0.85, True)])
def test_validation_auc_check_fails_on_a_real_drop(monkeypatch, second_auc, passed):
    monkeypatch.delenv(MAX_AUC_DROP_ENV, raising=False)
    instance = dg.DagsterInstance.ephemeral()
    _materialized(instance, "prm_model", {"validation_auc": 0.80})
    first = _execute(instance, validation_auc_not_dropped)
    assert first.passed and first.metadata["note"].value == "no previous model to compare with"
    _materialized(instance, "prm_model", {"status": "no new model"})  # a refresh without a model compares nothing
    assert _execute(instance, validation_auc_not_dropped).metadata["note"].value == "no new validation AUC"
    _materialized(instance, "prm_model", {"validation_auc": second_auc})
    evaluation = _execute(instance, validation_auc_not_dropped)
    assert evaluation.passed is passed
    values = {k: v.value for k, v in evaluation.metadata.items()}
    assert values["validation_auc"] == second_auc and values["previous_validation_auc"] == 0.80
    assert values["drop"] == pytest.approx(0.80 - second_auc) and values["max_drop"] == 0.05


def test_validation_auc_tolerance_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(MAX_AUC_DROP_ENV, "0.15")
    instance = dg.DagsterInstance.ephemeral()
    for auc in (0.80, 0.70):
        _materialized(instance, "prm_model", {"validation_auc": auc})
    evaluation = _execute(instance, validation_auc_not_dropped)
    assert evaluation.passed and evaluation.metadata["max_drop"].value == 0.15


def test_group_share_check_fails_when_a_group_moves_too_far(monkeypatch):
    monkeypatch.delenv(MAX_SHARE_SHIFT_ENV, raising=False)
    instance = dg.DagsterInstance.ephemeral()
    before = {"ethnicity_aian": 0.30, "high_deprivation": 0.55, "on_benefit_by_3_months": 0.80}
    _materialized(instance, "prm_evaluation", {"top_share_by_group": dg.MetadataValue.json(before)})
    assert _execute(instance, top_share_composition_stable).passed
    within = {"ethnicity_aian": 0.38, "high_deprivation": 0.50, "on_benefit_by_3_months": 0.82}
    _materialized(instance, "prm_evaluation", {"top_share_by_group": dg.MetadataValue.json(within)})
    assert _execute(instance, top_share_composition_stable).passed
    moved = {"ethnicity_aian": 0.52, "high_deprivation": 0.49, "on_benefit_by_3_months": 0.81}
    # the asset now writes a table; earlier materializations wrote JSON: both are read
    _materialized(instance, "prm_evaluation", {"top_share_by_group": mapping_table(moved, "group", "share")})
    evaluation = _execute(instance, top_share_composition_stable)
    assert not evaluation.passed
    values = {k: v.value for k, v in evaluation.metadata.items()}
    # compared with the previous evaluation (within), not the first
    assert values["largest_shift_group"] == "ethnicity_aian" and values["largest_shift"] == pytest.approx(0.14)
    shifts = {r.data["group"]: r.data["shift"] for r in values["shifts"].records}
    assert shifts["high_deprivation"] == pytest.approx(0.01) and values["max_shift"] == 0.10
