"""The annual CFSR schedule: 1 February, newest complete period, skip when a file is missing."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from cmi_assets.defs.cfsr.partitions import files_used_by_periods, fiscal_year_keys, fiscal_year_of
from cmi_assets.defs.cfsr.schedules import (
    annual_run_request,
    cfsr_annual,
    newest_complete_period,
    newest_period_request,
)

KEYS = fiscal_year_keys(2016, 2027)


def test_fiscal_year_starts_on_1_october():
    assert fiscal_year_of(dt.date(2025, 9, 30)) == 2025
    assert fiscal_year_of(dt.date(2025, 10, 1)) == 2026


def test_on_1_february_2026_the_newest_complete_period_is_fy24_25():
    # FY2025 ended on 30 September 2025; period FY2024 uses files FY2024 and FY2025.
    assert newest_complete_period(dt.date(2026, 2, 1)) == 2024
    # Later in the year the newest due file is still FY2025's: FY2026's is due in February 2027.
    assert newest_complete_period(dt.date(2026, 11, 21)) == 2024
    request = annual_run_request(dt.date(2026, 2, 1), {"FY2024", "FY2025"}, KEYS)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "FY2024"


def test_skips_when_the_newest_file_is_not_loaded():
    skip = annual_run_request(dt.date(2026, 2, 1), {"FY2023", "FY2024"}, KEYS)
    assert isinstance(skip, dg.SkipReason) and "FY2025" in skip.skip_message


def test_schedule_runs_annually_on_1_february_by_default():
    assert cfsr_annual.cron_schedule == "0 6 1 2 *"
    assert cfsr_annual.default_status == dg.DefaultScheduleStatus.RUNNING
    assert cfsr_annual.job_name == "cfsr_period_job"


def test_schedule_evaluates_against_the_instance():
    instance = dg.DagsterInstance.ephemeral()
    day = dt.date(2026, 2, 1)
    assert isinstance(newest_period_request(day, instance), dg.SkipReason)  # nothing loaded yet
    for key in ("FY2024", "FY2025"):
        instance.report_runless_asset_event(dg.AssetMaterialization("ncands_child_file", partition=key))
    request = newest_period_request(day, instance)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "FY2024"


def test_mapping_sends_each_file_to_the_two_periods_that_read_it():
    mapping = files_used_by_periods(KEYS)
    table = mapping.downstream_partition_keys_by_upstream_partition_key
    assert set(table["FY2020"]) == {"FY2019", "FY2020"}
    assert set(table["FY2016"]) == {"FY2016"}  # no period before the first file
