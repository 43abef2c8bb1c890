"""The estimate check's reasons, on hand-made headlines."""

from __future__ import annotations

import math

import dagster as dg
import polars as pl

from cmi_assets.defs.incidence.checks import estimate_check, estimate_problems, overlap_check

GOOD = {"identifiable": True, "interval_finite": True, "total": 100.0, "total_upper": 130.0}


def test_estimate_problems():
    assert estimate_problems(GOOD) == ""
    assert "sparse" in estimate_problems(
        {"identifiable": False, "why_not": "no child on both cp and hospital: sparse overlap"}
    )
    assert "finite" in estimate_problems({**GOOD, "interval_finite": False, "total_upper": math.inf})
    assert "twice" in estimate_problems({**GOOD, "total_upper": 250.0})


def test_estimate_check_warns_and_names_the_level():
    result = estimate_check({"conservative": GOOD, "less_conservative": {**GOOD, "total_upper": 900.0}})
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description.startswith("less_conservative:")
    assert estimate_check({"conservative": GOOD}).passed


def test_overlap_check_compares_cells_with_the_union():
    overlap = pl.DataFrame({"linkage_level": ["conservative"] * 3, "children": [None, 4, 6]})
    assert overlap_check(overlap, {"conservative": 10}).passed
    assert not overlap_check(overlap, {"conservative": 11}).passed
