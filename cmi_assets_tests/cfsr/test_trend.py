"""Trend over periods: which periods the files allow, changes since the previous
published period (DQ periods skipped), pooled rows with status counts."""

from __future__ import annotations

import polars as pl
import pytest

from cmi_assets.cfsr.trend import national_trend, periods_the_data_allow, state_trend


def _rsp_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "state": ["AA", "AA", "AA", "BB", "BB", "BB"],
            "period_fy": [2018, 2019, 2020, 2018, 2019, 2020],
            "period": ["FY18-19", "FY19-20", "FY20-21"] * 2,
            "denominator": [100, 110, 120, 50, 60, 70],
            "numerator": [10, 12, 15, 4, 6, 5],
            "observed": [0.10, None, 0.125, 0.08, 0.10, 5 / 70],
            "dq_status": ["pass", "DQ", "pass", "pass", "pass", "pass"],
            "rsp": [0.10, None, 0.13, 0.09, 0.08, 0.07],
            "rsp_lower": [0.08, None, 0.11, 0.05, 0.05, 0.04],
            "rsp_upper": [0.12, None, 0.15, 0.12, 0.096, 0.095],
            "status": ["no different", "DQ", "worse", "no different", "better", "better"],
        }
    )


def test_a_period_needs_the_next_years_file():
    assert periods_the_data_allow([2016, 2017, 2018, 2020]) == [2016, 2017]
    assert periods_the_data_allow([2021]) == []


def test_changes_since_the_previous_published_period_by_hand():
    trend = state_trend(_rsp_rows())
    rows = {(r["state"], r["period_fy"]): r for r in trend.iter_rows(named=True)}
    # AA: FY19-20 is DQ, so FY20-21 compares with FY18-19.
    assert rows[("AA", 2020)]["previous_period"] == "FY18-19"
    assert rows[("AA", 2020)]["rsp_change"] == pytest.approx(0.03)
    assert rows[("AA", 2020)]["observed_change"] == pytest.approx(0.025)
    assert rows[("AA", 2020)]["status_change"] == "no different -> worse"
    assert rows[("AA", 2019)]["rsp_change"] is None and rows[("AA", 2019)]["status"] == "DQ"
    assert rows[("AA", 2018)]["previous_period"] is None
    assert rows[("BB", 2019)]["rsp_change"] == pytest.approx(-0.01)
    assert rows[("BB", 2020)]["status_change"] == "better -> better"
    assert trend.height == 6


def test_national_trend_counts_statuses_per_period():
    national = pl.DataFrame(
        {
            "period_fy": [2019, 2018],
            "period": ["FY19-20", "FY18-19"],
            "n_states": [1, 2],
            "denominator": [60, 150],
            "numerator": [6, 14],
            "observed": [0.1, 14 / 150],
        }
    )
    out = national_trend(national, _rsp_rows())
    assert out["period_fy"].to_list() == [2018, 2019]
    first = out.row(0, named=True)
    assert (first["states_better"], first["states_no_different"], first["states_worse"], first["states_dq"]) == (
        0,
        2,
        0,
        0,
    )
    second = out.row(1, named=True)
    assert (second["states_better"], second["states_dq"]) == (1, 1)


def test_suppressed_periods_are_skipped_like_dq_periods_and_counted():
    rows = _rsp_rows().with_columns(
        status=pl.when((pl.col("state") == "BB") & (pl.col("period_fy") == 2019))
        .then(pl.lit("suppressed"))
        .otherwise(pl.col("status")),
        rsp=pl.when((pl.col("state") == "BB") & (pl.col("period_fy") == 2019)).then(None).otherwise(pl.col("rsp")),
    )
    trend = state_trend(rows)
    bb = {r["period_fy"]: r for r in trend.filter(pl.col("state") == "BB").iter_rows(named=True)}
    # FY20-21 compares with FY18-19, skipping the suppressed FY19-20
    assert bb[2020]["previous_period"] == "FY18-19" and bb[2020]["rsp_change"] == pytest.approx(-0.02)
    assert bb[2019]["rsp_change"] is None and bb[2019]["status_change"] is None
    national = pl.DataFrame(
        {
            "period_fy": [2019],
            "period": ["FY19-20"],
            "n_states": [1],
            "denominator": [60],
            "numerator": [6],
            "observed": [0.1],
            "suppressed": [False],
        }
    )
    out = national_trend(national, rows).row(0, named=True)
    assert (out["states_dq"], out["states_suppressed"], out["suppressed"]) == (1, 1, False)
