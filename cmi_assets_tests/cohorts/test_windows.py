"""Time rules: birth reference date, by-age boundaries, windows and spell unions."""

import datetime as dt

import polars as pl
import pytest

from cmi_assets.cohorts.windows import (
    birth_reference_date,
    birth_reference_day,
    in_window_before,
    month_of_last_year,
    overlap_days,
    under_age,
    union_days,
)


def test_birth_reference_date_is_the_15th_of_the_birth_month():
    frame = pl.DataFrame({"birth_year": [2010, None], "birth_month": [6, 3]})
    out = frame.select(birth_reference_date().alias("birth_reference_date"), birth_reference_day().alias("day"))
    assert out["birth_reference_date"].to_list() == [dt.date(2010, 6, 15), None]
    assert out["day"][0] == (dt.date(2010, 6, 15) - dt.date(1970, 1, 1)).days


@pytest.mark.parametrize("age_days, by_2", [(0, True), (729, True), (730, True), (731, False), (-1, False)])
def test_by_age_2_is_an_age_under_730_and_a_half_days(age_days, by_2):
    assert pl.select(under_age(pl.lit(age_days), 2)).item() is by_2


def test_five_year_window_ends_the_day_before_the_reference_day():
    ref = 10_000
    events = pl.DataFrame({"day": [ref - 1827, ref - 1826, ref - 1, ref]})
    assert events.select(in_window_before(pl.col("day"), pl.lit(ref), 1826))["day"].to_list() == [
        False,
        True,
        True,
        False,
    ]


def test_months_of_the_last_year_are_30_and_a_half_day_buckets():
    ref = 10_000
    days = pl.DataFrame({"day": [ref - 1, ref - 31, ref - 32, ref - 365]})  # 1-31 days back: month 0
    assert days.select(month_of_last_year(pl.col("day"), pl.lit(ref))).to_series().to_list() == [0, 0, 1, 11]


def test_overlap_days_counts_inclusive_spells_and_open_ends():
    frame = pl.DataFrame({"s": [0, 5, 5], "e": [9, None, 20]}, schema={"s": pl.Int32, "e": pl.Int32})
    out = frame.select(overlap_days(pl.col("s"), pl.col("e"), pl.lit(3), pl.lit(12)))
    assert out.to_series().to_list() == [7, 7, 7]


def test_union_days_counts_overlapping_spells_once():
    # [0, 99] and [50, 149] overlap: 150 days, not 200; [300, 309] adds 10; window [0, 1000)
    spells = pl.DataFrame(
        {
            "k": ["x"] * 3 + ["y"],
            "start_day": [0, 50, 300, 10],
            "end_day": [99, 149, 309, None],
            "lo": [0] * 4,
            "hi": [1000] * 4,
        }
    )
    out = dict(union_days(spells, ["k"], "lo", "hi").iter_rows())
    assert out == {"x": 160, "y": 990}
