"""Small-cell suppression: one function hides numerators and rates under 11 children,
flags the cell, marks a status column, and leaves DQ and large cells alone."""

from __future__ import annotations

import polars as pl
import pytest

from cmi_assets.cfsr.suppression import (
    RSP_VALUES,
    SUPPRESS_BELOW,
    suppress_national,
    suppress_small_cells,
)


def _rsp_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "state": ["AA", "BB", "CC", "DD", "EE"],
            "denominator": [10, 11, 3, None, 500],
            "numerator": [2, 1, 0, None, 50],
            "observed": [0.2, 1 / 11, 0.0, None, 0.1],
            "E": [1.1, 1.2, 0.3, None, 48.0],
            "P": [1.2, 1.1, 0.3, None, 49.0],
            "u_mode": [0.1, -0.05, 0.0, None, 0.02],
            "rsp": [0.18, 0.08, 0.0, None, 0.101],
            "rsp_lower": [0.05, 0.01, None, None, 0.08],
            "rsp_upper": [0.6, 0.5, None, None, 0.13],
            "status": ["no different", "no different", "DQ", None, "no different"],
        }
    )


def test_the_threshold_is_11_children():
    assert SUPPRESS_BELOW == 11


def test_cells_under_11_lose_numerator_and_every_rate_but_keep_denominator_and_expected():
    out = suppress_small_cells(_rsp_rows(), RSP_VALUES, status="status")
    rows = {r["state"]: r for r in out.iter_rows(named=True)}
    assert rows["AA"]["denominator"] == 10 and rows["AA"]["E"] == 1.1
    assert all(rows["AA"][c] is None for c in RSP_VALUES)
    assert rows["AA"]["status"] == "suppressed" and rows["AA"]["suppressed"]
    # 11 is not small: everything shown
    assert rows["BB"]["numerator"] == 1 and rows["BB"]["rsp"] == 0.08 and not rows["BB"]["suppressed"]
    assert rows["BB"]["status"] == "no different"
    # a small DQ cell stays DQ, values hidden all the same
    assert rows["CC"]["status"] == "DQ" and rows["CC"]["numerator"] is None and rows["CC"]["suppressed"]
    # no denominator at all is not a small cell
    assert not rows["DD"]["suppressed"] and rows["DD"]["status"] is None
    assert rows["EE"]["numerator"] == 50 and rows["EE"]["observed"] == 0.1
    assert out.columns == [*_rsp_rows().columns, "suppressed"]


def test_threshold_and_flag_name_are_parameters():
    out = suppress_small_cells(_rsp_rows(), ["numerator"], flag="small", min_denominator=4)
    assert out.filter(pl.col("small"))["state"].to_list() == ["CC"]
    assert out.filter(pl.col("state") == "AA")["numerator"].item() == 2


def test_an_unknown_column_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match="numerater"):
        suppress_small_cells(_rsp_rows(), ["numerater"])


def test_pooled_rows_are_suppressed_against_their_own_denominator():
    national = pl.DataFrame(
        {
            "denominator": [8],
            "numerator": [1],
            "observed": [0.125],
            "denominator_all": [40],
            "numerator_all": [5],
            "observed_all_states": [0.125],
        }
    )
    row = suppress_national(national).row(0, named=True)
    assert row["numerator"] is None and row["observed"] is None and row["suppressed"]
    assert row["numerator_all"] == 5 and row["observed_all_states"] == 0.125 and not row["suppressed_all_states"]
