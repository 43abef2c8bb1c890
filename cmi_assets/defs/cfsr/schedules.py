"""The annual CFSR computation.

NCANDS Child Files cover a federal FY (1 October to 30 September) and states submit
them in the following months; the schedule runs on 1 February (partitions.FILE_DUE),
by when the file of the FY that ended on 30 September is expected. The newest complete cohort period is
then the one that ends with that file: on 1 February 2026, FY2025 ended, so period
FY24-25 (files FY2024 and FY2025) is computed. Declarative automation usually gets
there first as the files land; the schedule makes sure the period is computed on the
expected date, and skips (saying why) when a file it needs is not loaded yet.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from cmi_assets.defs.automation import schedule_timezone
from cmi_assets.defs.cfsr.partitions import FILE_DUE, PERIODS, fy_key, newest_due_fiscal_year

FILES_EXPECTED_CRON = f"0 6 {FILE_DUE[1]} {FILE_DUE[0]} *"  # 06:00 on the day files are due (1 February)

cfsr_period_job = dg.define_asset_job(
    "cfsr_period_job",
    selection=dg.AssetSelection.assets("cfsr_recurrence", "cfsr_rsp", "cfsr_drilldown"),
    partitions_def=PERIODS,
    description="One cohort period: observed recurrence with DQ checks, RSP and drill-downs.",
)


def newest_complete_period(day: dt.date) -> int:
    """Cohort FY t whose second file (t+1) is the newest file due on `day`."""
    return newest_due_fiscal_year(day) - 1


def annual_run_request(day: dt.date, materialized_files: set[str], partition_keys: list[str]):
    """RunRequest for the newest complete period, or SkipReason when its files are not
    both loaded (or the period is outside the partitions)."""
    period = newest_complete_period(day)
    key, needed = fy_key(period), [fy_key(period), fy_key(period + 1)]
    if key not in partition_keys:
        return dg.SkipReason(f"period {key} is not a CFSR partition")
    absent = [file for file in needed if file not in materialized_files]
    if absent:
        return dg.SkipReason(f"period {key} needs ncands_child_file {', '.join(absent)}, not loaded yet")
    return dg.RunRequest(run_key=f"cfsr_annual_{key}", partition_key=key)


@dg.schedule(
    name="cfsr_annual",
    cron_schedule=FILES_EXPECTED_CRON,
    execution_timezone=schedule_timezone(),
    job=cfsr_period_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="1 February: compute the newest complete CFSR period (files of the two FYs ended by then).",
)
def cfsr_annual(context: dg.ScheduleEvaluationContext):
    return newest_period_request(context.scheduled_execution_time.date(), context.instance)


def newest_period_request(day: dt.date, instance: dg.DagsterInstance):
    """The schedule's decision for a tick on `day`, from the file partitions loaded."""
    materialized = instance.get_materialized_partitions(dg.AssetKey("ncands_child_file"))
    return annual_run_request(day, set(materialized), PERIODS.get_partition_keys())
