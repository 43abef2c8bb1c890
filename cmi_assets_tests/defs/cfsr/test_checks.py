"""CFSR checks never pass on nothing: an undelivered year warns on both file checks,
and a DQ check with no victims to look at warns instead of passing."""

from __future__ import annotations

import dagster as dg
import polars as pl

from cmi_assets.cfsr.dq import DQ_TABLE_SCHEMA
from cmi_assets.defs.cfsr.checks import (
    DQ_CHECK_NAMES,
    dq_check_results,
    elements_and_codes_result,
    undelivered_year_results,
)


def test_an_undelivered_year_warns_on_both_file_checks_and_names_the_year():
    results = {r.check_name: r for r in undelivered_year_results(2019, ["CA", "TX"])}
    assert set(results) == {"elements_and_codes", "states_complete"}
    for result in results.values():
        assert result.passed is False and result.severity == dg.AssetCheckSeverity.WARN
        assert result.description.startswith("no Child File for FY2019 delivered")
    assert results["states_complete"].description == "no Child File for FY2019 delivered (2 states delivered FY2018)"
    assert results["states_complete"].metadata["missing_states"].value == "California (CA), Texas (TX)"


def test_a_delivered_year_with_good_codes_passes():
    result = elements_and_codes_result([], {"CHSEX": 0}, 120)
    assert result.passed and result.metadata["rows"].value == 120


def test_dq_checks_with_no_victims_warn_instead_of_passing():
    empty = pl.DataFrame(schema=DQ_TABLE_SCHEMA)
    results = dq_check_results(empty)
    assert [r.check_name for r in results] == list(DQ_CHECK_NAMES.values())
    assert all(not r.passed and r.severity == dg.AssetCheckSeverity.WARN for r in results)
    assert "no victims to check" in results[0].description


def test_dq_check_metadata_shows_suppressed_cells_as_blank():
    dq = pl.DataFrame(
        {
            "state": ["AA", "BB"],
            "check": [3, 3],
            "check_name": ["missing age for victims"] * 2,
            "files": ["FY2019", "FY2019"],
            "numerator": [None, 2],
            "denominator": [7, 400],
            "rate": [None, 0.005],
            "limit": [0.05, 0.05],
            "fails_when": ["above", "above"],
            "result": ["fail", "pass"],
        },
        schema=DQ_TABLE_SCHEMA,
    )
    check3 = next(r for r in dq_check_results(dq) if r.check_name == "dq3_missing_age")
    assert not check3.passed and check3.metadata["failing_states"].value == "'AA'"
    records = {r.data["state"]: r.data for r in check3.metadata["by_state"].value.records}
    assert records["AA"]["numerator"] is None and records["AA"]["rate"] is None and records["AA"]["denominator"] == 7
    assert records["BB"]["numerator"] == 2
