"""The community checks pass on what they should and fail on what they should: a small
count shown, a rate outside its interval, a county total that is not the sum of its
parts."""

from __future__ import annotations

import polars as pl

from cmi_assets.defs.community.checks import margins_check, rates_in_interval_check, small_counts_check


def _rows(count, population, rate, lower, upper) -> pl.DataFrame:
    return pl.DataFrame(
        {"count": count, "population": population, "rate_per_1000": rate, "rate_lower": lower, "rate_upper": upper}
    )


def test_small_counts_check():
    shown = _rows([0, 11, None], [40, 300, 30], [0.0, 36.7, None], [0.0, 18.3, None], [92.2, 65.6, None])
    assert small_counts_check(shown, 11).passed  # a zero and 11 may show; the hidden cell is null
    assert not small_counts_check(_rows([5], [300], [16.7], [5.4], [38.9]), 11).passed
    assert not small_counts_check(_rows([0], [8], [0.0], [0.0], [461.0]), 11).passed  # population under 11
    assert small_counts_check(_rows([5], [300], [16.7], [5.4], [38.9]), 5).passed  # the threshold is a parameter


def test_rates_in_interval_check():
    assert rates_in_interval_check(_rows([11], [300], [36.7], [18.3], [65.6])).passed
    assert not rates_in_interval_check(_rows([11], [300], [70.0], [18.3], [65.6])).passed


def test_margins_check_fails_on_a_wrong_total():
    def row(level, code, parent, count):
        return {
            "indicator": "reports",
            "linkage_level": "conservative",
            "period": "2012",
            "geography_level": level,
            "geography_code": code,
            "parent_code": parent,
            "group_type": "all",
            "group_value": "all",
            "count": count,
            "population": 100,
        }

    good = pl.DataFrame(
        [row("state", "CT", None, 30), row("county", "09001", "CT", 10), row("county", "09003", "CT", 20)]
    )
    good = good.with_columns(pl.when(pl.col("geography_level") == "state").then(200).otherwise(100).alias("population"))
    assert margins_check(good).passed
    bad = good.with_columns(
        pl.when(pl.col("geography_code") == "09003").then(21).otherwise(pl.col("count")).alias("count")
    )
    result = margins_check(bad)
    assert not result.passed and result.metadata["totals_wrong"].value == 1
