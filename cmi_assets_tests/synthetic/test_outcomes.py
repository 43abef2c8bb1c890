"""The hidden risk model: Lambda(age) by hand, Poisson event counts against the
cumulative hazard, and the oracle P(finding by 2) = 1 - exp(-exp(eta) Lambda(2)) against
simulated children."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cmi_assets.synthetic.dates import day_number
from cmi_assets.synthetic.outcomes import cumulative_baseline, draw_investigations, events_in_bands, reports_frame
from cmi_assets.synthetic.profile import load_profile


def params_with(hazard: list[float]) -> dict:
    params = load_profile()["world"]
    params["outcomes"]["age_band_edges"] = [0, 1, 2, 5, 10, 18]
    params["outcomes"]["baseline_hazard"] = hazard
    return params


def test_cumulative_baseline_by_hand():
    params = params_with([1.0, 0.5, 0.2, 0.1, 0.05])
    assert cumulative_baseline(2.0, params) == pytest.approx(1.5)
    assert cumulative_baseline(5.0, params) == pytest.approx(1.5 + 3 * 0.2)
    assert cumulative_baseline(0.5, params) == pytest.approx(0.5)


def test_first_event_share_matches_the_oracle_probability():
    params = params_with([1.0, 0.5, 0.2, 0.1, 0.05])
    rng = np.random.default_rng(1)
    n = 200_000
    eta = rng.normal(-4, 1, n)
    dob = np.full(n, day_number("2005-01-01"))
    rows, day = events_in_bands(np.exp(eta), dob, day_number("1990-01-01"), day_number("2021-09-30"), params, rng)
    by_2 = np.zeros(n, bool)
    by_2[rows[(day - dob[rows]) < round(2 * 365.25)]] = True
    oracle = 1 - np.exp(-np.exp(eta) * cumulative_baseline(2.0, params))
    assert by_2.mean() == pytest.approx(oracle.mean(), rel=0.03)
    # and by risk decile
    top = eta > np.quantile(eta, 0.9)
    assert by_2[top].mean() == pytest.approx(oracle[top].mean(), rel=0.05)


def test_events_stay_inside_the_window_and_childhood():
    params = params_with([1.0, 1.0, 1.0, 1.0, 1.0])
    rng = np.random.default_rng(2)
    dob = np.array([day_number("1985-06-01"), day_number("2019-01-01")])
    rows, day = events_in_bands(
        np.array([5.0, 5.0]), dob, day_number("1990-01-01"), day_number("2021-09-30"), params, rng
    )
    assert (day >= day_number("1990-01-01")).all() and (day <= day_number("2021-09-30")).all()
    assert ((day - dob[rows]) < 18 * 365.25 + 1).all() and ((day - dob[rows]) >= 0).all()


def test_investigations_follow_the_report_category():
    params = load_profile()["world"]
    rng = np.random.default_rng(3)
    cats = np.array(
        ["finding", "behavioural", "unsubstantiated", "alternative_response", "screened_out", "fv_referral"] * 200
    )
    days = np.full(cats.size, day_number("2012-03-01"))
    days[-6:] = day_number("2021-09-29")  # still open at the observation end
    reports = reports_frame(np.arange(cats.size), days, np.full(cats.size, "HEALTH"), cats, "test").with_columns(
        pl.int_range(pl.len()).cast(pl.Int64).alias("report_id")
    )
    reports, findings = draw_investigations(reports, params, rng)
    joined = reports.join(findings, on="report_id", how="left")
    done = joined.filter(pl.col("notification_day") < day_number("2021-01-01"))
    assert (done.filter(pl.col("category").is_in(["screened_out", "fv_referral"]))["further_action"] == "N").all()
    assert (
        done.filter(pl.col("category") == "finding")
        .group_by("report_id")
        .agg((pl.col("finding") == "SUBSTANTIATED").any())["finding"]
        .all()
    )
    assert (done.filter(pl.col("category") == "behavioural")["abuse_type"] == "BEHAVIOURAL").all()
    assert (done.filter(pl.col("category") == "alternative_response")["response"] == "ASSESSMENT").all()
    assert (done.filter(pl.col("category") == "alternative_response")["finding"] == "NO_FINDING").all()
    assert (done.filter(pl.col("category") == "unsubstantiated")["finding"] != "SUBSTANTIATED").all()
    open_rows = joined.filter(
        (pl.col("notification_day") == day_number("2021-09-29")) & (pl.col("further_action") == "Y")
    )
    assert open_rows["report_id"].n_unique() == 4 and (open_rows["finding"] == "NO_FINDING").all()
    assert not findings.select("report_id", "abuse_type").is_duplicated().any()
