"""Recurrence over every period the data allow: per state and pooled, the observed
rate, RSP, interval and status of each cohort period, and the change from the
state's previous published period (CFSR R4 rules, section 4.2: the data profile shows
several periods side by side; a DQ period has neither observed value nor RSP, nor has
a period whose denominator is under the suppression threshold: suppression.py).

A cohort period FYt needs the Child Files of t and t+1 (section 2.1 step 1), so the
periods the data allow are the years t whose next year's file is also present.
"""

from __future__ import annotations

import polars as pl

PUBLISHED_STATUSES = ("better", "no different", "worse")  # not "DQ", not "suppressed"

TREND_COLUMNS = [
    "state",
    "period_fy",
    "period",
    "denominator",
    "numerator",
    "observed",
    "dq_status",
    "rsp",
    "rsp_lower",
    "rsp_upper",
    "status",
    "previous_period",
    "rsp_change",
    "observed_change",
    "status_change",
]


def periods_the_data_allow(file_years: list[int]) -> list[int]:
    """Cohort periods t with both file t and file t+1 present."""
    present = set(file_years)
    return sorted(t for t in present if t + 1 in present)


def state_trend(rsp_by_state: pl.DataFrame) -> pl.DataFrame:
    """One row per state and period (rows of cfsr_rsp for every period, with
    `period_fy`), with the change since the state's previous *published* period:
    `rsp_change` and `observed_change` in proportion points (null when either period
    is DQ or when there is no earlier published period) and `status_change`
    ("better -> no different"). DQ and suppressed periods are skipped when looking back."""
    ordered = rsp_by_state.sort("state", "period_fy")
    published = ordered.filter(pl.col("status").is_in(PUBLISHED_STATUSES)).with_columns(
        previous_period=pl.col("period").shift(1).over("state"),
        previous_rsp=pl.col("rsp").shift(1).over("state"),
        previous_observed=pl.col("observed").shift(1).over("state"),
        previous_status=pl.col("status").shift(1).over("state"),
    )
    looked_back = published.select(
        "state",
        "period_fy",
        "previous_period",
        rsp_change=pl.col("rsp") - pl.col("previous_rsp"),
        observed_change=pl.col("observed") - pl.col("previous_observed"),
        status_change=pl.when(pl.col("previous_status").is_not_null()).then(
            pl.concat_str(pl.col("previous_status"), pl.lit(" -> "), pl.col("status"))
        ),
    )
    return ordered.join(looked_back, on=["state", "period_fy"], how="left").select(TREND_COLUMNS)


def national_trend(national: pl.DataFrame, rsp_by_state: pl.DataFrame) -> pl.DataFrame:
    """Per period: the pooled observed rate over DQ-passing states (section 2.1 step 12)
    and how many states are better, no different, worse, DQ or suppressed."""
    statuses = rsp_by_state.group_by("period_fy").agg(
        states_better=(pl.col("status") == "better").sum().cast(pl.Int64),
        states_no_different=(pl.col("status") == "no different").sum().cast(pl.Int64),
        states_worse=(pl.col("status") == "worse").sum().cast(pl.Int64),
        states_dq=(pl.col("status") == "DQ").sum().cast(pl.Int64),
        states_suppressed=(pl.col("status") == "suppressed").sum().cast(pl.Int64),
    )
    return (
        national.select(
            "period_fy",
            "period",
            "n_states",
            "denominator",
            "numerator",
            "observed",
            *[c for c in ("suppressed",) if c in national.columns],
        )
        .join(statuses, on="period_fy", how="left")
        .sort("period_fy")
    )
