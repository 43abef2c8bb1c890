"""The annual PRM refresh. A new birth cohort completes its outcomes to age 2 once a year;
the schedule retrains, rescores, re-evaluates and rebuilds the report on 1 March (after the
year-end data have been linked). Declarative automation also follows new cohort data; the
schedule makes sure the refresh happens on a known date, with the drift checks attached."""

import dagster as dg

from cmi_assets.defs.automation import schedule_timezone

ANNUAL_REFRESH_CRON = "0 6 1 3 *"  # 06:00 on 1 March

prm_refresh_job = dg.define_asset_job(
    "prm_refresh_job",
    selection=dg.AssetSelection.groups("prm"),
    description="Retrain the PRM, score, evaluate and rebuild the feasibility report (with the drift checks).",
)

prm_annual_refresh = dg.ScheduleDefinition(
    name="prm_annual_refresh",
    cron_schedule=ANNUAL_REFRESH_CRON,
    execution_timezone=schedule_timezone(),
    job=prm_refresh_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="1 March: retrain and re-evaluate the PRM on the newest cohort with outcomes to age 2.",
)
