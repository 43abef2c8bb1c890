"""What the CFSR assets publish from a period's results (cfsr/published.py): hand-worked
frames of a few states, checked cell by cell."""

from __future__ import annotations

import json

import polars as pl

from cmi_assets.cfsr.published import (
    by_state_rows,
    national_drilldown_rows,
    periods_waiting_for_files,
    profile_by_first_column,
    profile_rows,
    published_recurrence,
    published_rsp,
    rsp_model_row,
    rsp_rows,
    states_by_status,
    with_period,
)
from cmi_assets.cfsr.recurrence import RecurrenceResult
from cmi_assets.cfsr.report import ProfileTable
from cmi_assets.cfsr.rsp import RandomInterceptFit
from cmi_assets.cfsr.suppression import SUPPRESS_BELOW
from cmi_assets.cfsr.tables import BY_STATE_TABLE, DQ_TABLE, NATIONAL_TABLE

BY_STATE = pl.DataFrame(
    {
        "state": ["AK", "OK", "WY"],
        "denominator": [200, 400, SUPPRESS_BELOW - 1],
        "numerator": [20, 50, 3],
        "observed": [0.1, 0.125, 3 / (SUPPRESS_BELOW - 1)],
        "dq_status": ["pass", "DQ", "pass"],
        "dq_reason": [None, "check 2 fails", None],
    }
)


def _result() -> RecurrenceResult:
    national = pl.DataFrame(
        {
            "denominator": [210],
            "numerator": [23],
            "observed": [23 / 210],
            "denominator_all": [610],
            "numerator_all": [73],
            "observed_all_states": [73 / 610],
        }
    )
    dq = pl.DataFrame({"state": ["AK", "WY"], "check": [1, 1], "denominator": [200, 4], "numerator": [2, 1]})
    dq = dq.with_columns(rate=pl.col("numerator") / pl.col("denominator"))
    return RecurrenceResult(by_state=BY_STATE, audit=pl.DataFrame(), national=national, dq=dq, fy=2019)


def test_a_period_is_stored_with_its_fy_in_front_and_small_cells_hidden():
    published = published_recurrence(_result())
    tables = published.tables()
    assert list(tables) == [BY_STATE_TABLE, NATIONAL_TABLE, DQ_TABLE]
    for frame in tables.values():
        assert frame.columns[0] == "period_fy" and frame["period_fy"].to_list() == [2019] * frame.height
    assert tables[DQ_TABLE]["period"].to_list() == ["FY19-20", "FY19-20"]
    wy = published.by_state.filter(pl.col("state") == "WY").row(0, named=True)
    assert wy["numerator"] is None and wy["observed"] is None and wy["suppressed"] and wy["denominator"] == 10
    assert published.by_state.filter(pl.col("state") == "AK")["numerator"].item() == 20
    assert tables[DQ_TABLE].filter(pl.col("state") == "WY")["rate"].item() is None
    assert published.pooled["numerator"] == 23 and published.states_where(pl.col("suppressed")) == ["WY"]
    labelled = with_period(BY_STATE, 2020, label=True)
    assert labelled.columns[:3] == ["period_fy", "period", "state"] and labelled["period"][0] == "FY20-21"


def test_the_by_state_rows_show_dq_and_suppressed_in_place_of_a_rate():
    rows, columns = by_state_rows(published_recurrence(_result()).by_state)
    assert columns == ["state", "denominator", "numerator", "observed", "DQ"]
    assert rows[0] == {"state": "AK", "denominator": 200, "numerator": "20", "observed": "10.0%", "DQ": "pass"}
    assert rows[1]["observed"] == "DQ" and rows[1]["DQ"] == "check 2 fails" and rows[1]["numerator"] == "50"
    assert rows[2]["observed"] == rows[2]["numerator"] == "suppressed"


def test_the_rsp_rows_and_statuses():
    rsp = pl.DataFrame(
        {
            "state": ["WY", "OK", "AK", "TX"],
            "denominator": [5, 400, 200, 900],
            "numerator": [1, 50, 20, 130],
            "observed": [0.2, 0.125, 0.1, 130 / 900],
            "P": [1.0, 2.0, 3.0, 4.0],
            "u_mode": [0.0, 0.1, -0.1, 0.2],
            "rsp": [0.3, None, 0.1011, 0.1312],
            "rsp_lower": [0.1, None, 0.0805, 0.1104],
            "rsp_upper": [0.5, None, 0.1466, 0.1521],
            "status": ["worse", "DQ", "no different", "worse"],
        }
    )
    published = published_rsp(rsp)
    assert published.filter(pl.col("state") == "WY")["status"].item() == "suppressed"
    rows, columns = rsp_rows(published)
    assert columns == ["state", "observed", "RSP", "RSP interval", "status"]
    assert [r["state"] for r in rows] == ["AK", "OK", "TX", "WY"]  # by state
    assert rows[0] == {
        "state": "AK",
        "observed": "10.0%",
        "RSP": "10.1%",
        "RSP interval": "8.1%-14.7%",
        "status": "no different",
    }
    assert rows[1] == {"state": "OK", "observed": "DQ", "RSP": "DQ", "RSP interval": "DQ", "status": "DQ"}
    assert set(rows[3].values()) == {"WY", "suppressed"}
    states = states_by_status(published)
    assert states == {"better": [], "no different": ["AK"], "worse": ["TX"], "DQ": ["OK"], "suppressed": ["WY"]}


def test_the_pooled_drilldown_is_in_age_order_without_counties():
    table = pl.DataFrame(
        {
            "state": ["national"] * 5 + ["AK"],
            "dimension": ["sex", "age_group", "county", "age_group", "age_group", "age_group"],
            "group": ["female", "17 y", "001", "0-3 mo", "1-5 y", "0-3 mo"],
            "denominator": [300, 40, 90, 5, 120, 60],
            "numerator": [30, 4, 9, None, 12, 6],
            "observed": [0.1, 0.1, 0.1, None, 0.1, 0.1],
            "suppressed": [False, False, False, True, False, False],
        }
    )
    rows, columns = national_drilldown_rows(table)
    assert columns == ["dimension", "group", "denominator", "numerator", "observed"]
    assert [(r["dimension"], r["group"]) for r in rows] == [
        ("age_group", "0-3 mo"),
        ("age_group", "1-5 y"),
        ("age_group", "17 y"),
        ("sex", "female"),
    ]
    assert rows[0]["numerator"] == "suppressed" and rows[0]["observed"] == "-" and rows[1]["observed"] == "10.0%"


def test_a_period_waits_for_each_of_its_two_files():
    def key(fy: int) -> str:
        return f"FY{fy}"

    assert periods_waiting_for_files([2019, 2020, 2021], {"FY2019", "FY2020", "FY2021"}, key) == (
        "FY21-22 (needs FY2022)"
    )
    assert periods_waiting_for_files([2019, 2020], {"FY2020"}, key) == "FY19-20 (needs FY2019); FY20-21 (needs FY2021)"
    assert periods_waiting_for_files([2019], {"FY2019", "FY2020"}, key) == "none"


def test_a_profile_table_as_rows_and_transposed():
    profile = ProfileTable(["Period", "Observed", "Numerator"], [["FY19-20", "9.7%", "97"], ["FY20-21", "9.9%", "99"]])
    rows, columns = profile_rows(profile, drop=("Numerator",))
    assert columns == ["Period", "Observed"] and rows[1]["Numerator"] == "99"
    assert profile_by_first_column(profile) == {
        "FY19-20": {"Observed": "9.7%", "Numerator": "97"},
        "FY20-21": {"Observed": "9.9%", "Numerator": "99"},
    }


def test_the_model_row_keeps_the_fit_and_the_national_performance():
    fit = RandomInterceptFit(
        alpha=-2.2,
        beta={"1-5 y": 0.0, "0-3 mo": 0.4},
        sigma=0.31,
        loglik=-1234.5,
        state_effects=pl.DataFrame(),
        converged=True,
        n_quadrature=15,
    )
    row = rsp_model_row(fit, 2019, 0.097).row(0, named=True)
    assert row["period_fy"] == 2019 and row["period"] == "FY19-20"
    assert (row["alpha"], row["sigma"], row["loglik"], row["converged"]) == (-2.2, 0.31, -1234.5, True)
    assert json.loads(row["beta"]) == fit.beta and row["national_performance"] == 0.097
