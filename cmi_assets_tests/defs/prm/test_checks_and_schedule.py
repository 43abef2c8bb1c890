"""The PRM drift checks' decisions and the annual schedule."""

from __future__ import annotations

import dagster as dg

from cmi_assets.defs.prm.checks import auc_drop_result, share_shift_result
from cmi_assets.defs.prm.schedules import prm_annual_refresh


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
    assert keys == {"prm_model", "prm_scores", "prm_evaluation", "feasibility_report"}
