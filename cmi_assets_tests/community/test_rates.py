"""The indicator table's numbers on hand-made children: counts per area and group worked
by hand (ethnicity total response), the exact interval against scipy's Poisson CDF, the
NCHS reliability rule at its edges, and margins that hold and that catch a wrong total."""

from __future__ import annotations

import polars as pl
import pytest
from scipy import stats

from cmi_assets.community.margins import margin_violations
from cmi_assets.community.rates import (
    area_counts,
    reliability,
    with_rates,
    with_reliability,
    with_smoothed_rates,
)
from cmi_assets.community.table import _finish
from cmi_assets.publish.disclosure import protect_indicator_table

# six children of one cohort: two counties, three postcodes; "counted" the numerator
MEMBERS = pl.DataFrame(
    {
        "indicator": ["reports"] * 6,
        "sex": ["M", "F", "F", "M", None, "F"],
        "ethnicity": ["WHITE", "WHITE;AIAN", "AIAN", "BLACK", "WHITE", None],
        "deprivation_decile": [1, 1, 9, 9, 9, 10],
        "county_fips": ["001", "001", "001", "003", "003", "003"],
        "postcode": ["06001", "06001", "06002", "06003", "06003", "06003"],
        "counted": [True, False, True, True, False, False],
    }
)


def _table(members: pl.DataFrame = MEMBERS) -> pl.DataFrame:
    counts = area_counts(members, "CT").with_columns(
        pl.lit("conservative").alias("linkage_level"), pl.lit("2012").alias("period")
    )
    return _finish(counts)


def _row(table, level, code, group_type="all", group_value="all"):
    rows = table.filter(
        (pl.col("geography_level") == level)
        & (pl.col("geography_code") == code)
        & (pl.col("group_type") == group_type)
        & (pl.col("group_value") == group_value)
    )
    assert rows.height == 1
    return rows.row(0, named=True)


def test_counts_by_area_and_group_by_hand():
    table = _table()
    state = _row(table, "state", "CT")
    assert (state["count"], state["population"], state["parent_code"]) == (3, 6, None)
    county = _row(table, "county", "09001")
    assert (county["count"], county["population"], county["parent_code"]) == (2, 3, "CT")
    assert _row(table, "county", "09003")["count"] == 1
    postcode = _row(table, "postcode", "06003")
    assert (postcode["count"], postcode["population"], postcode["parent_code"]) == (1, 3, "09003")
    # ethnicity is total response: the WHITE;AIAN child is in both groups
    assert _row(table, "state", "CT", "ethnicity", "WHITE")["population"] == 3
    assert _row(table, "state", "CT", "ethnicity", "AIAN")["population"] == 2
    assert _row(table, "state", "CT", "ethnicity", "unknown")["population"] == 1
    assert _row(table, "state", "CT", "sex", "unknown")["population"] == 1
    assert _row(table, "county", "09003", "deprivation_decile", "9")["count"] == 1
    assert state["rate_per_1000"] == pytest.approx(500.0)


def test_exact_interval_against_scipy():
    counts = pl.DataFrame({"count": [0, 1, 5, 19, 20, 250], "population": [40, 40, 400, 1000, 1000, 5000]})
    rated = with_rates(counts)
    for row in rated.iter_rows(named=True):
        x, n = row["count"], row["population"]
        lower, upper = row["rate_lower"] * n / 1000, row["rate_upper"] * n / 1000
        # the exact interval's ends: P(X >= x | lower) = 2.5%, P(X <= x | upper) = 2.5%
        assert stats.poisson.cdf(x, upper) == pytest.approx(0.025, abs=1e-9)
        if x == 0:
            assert lower == 0.0
        else:
            assert stats.poisson.sf(x - 1, lower) == pytest.approx(0.025, abs=1e-9)
        assert row["rate_lower"] <= row["rate_per_1000"] <= row["rate_upper"]
        assert row["rate_per_1000"] == pytest.approx(1000 * x / n)


def test_nchs_reliability_rule():
    assert reliability(19, False) == "unreliable"  # fewer than 20 events
    assert reliability(20, False) == "reliable"  # RSE 1/sqrt(20) = 22%
    assert reliability(0, False) == "unreliable"  # no events: RSE infinite
    assert reliability(500, True) == "suppressed"
    assert reliability(None, False) == "suppressed"
    flagged = with_reliability(pl.DataFrame({"count": [25, 3, None], "suppressed": [False, False, True]}))
    assert flagged["reliability"].to_list() == ["reliable", "unreliable", "suppressed"]


def test_margins_hold_and_a_wrong_total_is_caught():
    table = _table()
    assert margin_violations(table).is_empty()
    broken = table.with_columns(
        pl.when((pl.col("geography_code") == "09001") & (pl.col("group_type") == "all"))
        .then(pl.col("count") + 1)
        .otherwise(pl.col("count"))
        .alias("count")
    )
    found = margin_violations(broken)
    # the county no longer sums to the state, nor its groups and postcodes to it
    assert set(found["margin"]) == {
        "counties sum to the state",
        "sex groups sum to all",
        "deprivation_decile groups sum to all",
        "postcodes sum to their county",
    }


def _decile_members() -> pl.DataFrame:
    """80 children in four postcodes of one county: decile 1 postcodes A (0 of 20 counted)
    and B (2 of 20), decile 9 postcodes C (10 of 20) and D (12 of 20)."""
    rows = []
    for postcode, decile, counted in (("A", 1, 0), ("B", 1, 2), ("C", 9, 10), ("D", 9, 12)):
        rows += [{"postcode": postcode, "deprivation_decile": decile, "counted": i < counted} for i in range(20)]
    return pl.DataFrame(rows).with_columns(
        pl.lit("reports").alias("indicator"),
        pl.lit("F").alias("sex"),
        pl.lit("WHITE").alias("ethnicity"),
        pl.lit("001").alias("county_fips"),
    )


def _postcode_rows(table: pl.DataFrame) -> pl.DataFrame:
    return table.filter((pl.col("geography_level") == "postcode") & (pl.col("group_type") == "all")).sort(
        "geography_code"
    )


def test_suppressed_cells_hidden_and_smoothing_uses_shown_cells_only():
    # the project's disclosure control (threshold 11): B (2) and C (10) are primary cells
    published = with_smoothed_rates(protect_indicator_table(_table(_decile_members()), threshold=11))
    hidden = published.filter(pl.col("suppressed"))
    rates = pl.col("count", "rate_per_1000", "rate_lower", "rate_upper", "smoothed_rate_per_1000")
    assert hidden.height > 0 and hidden.select(rates.null_count()).row(0) == (hidden.height,) * 5
    assert (hidden["population"] > 0).all()
    postcodes = _postcode_rows(published)
    assert postcodes["suppressed"].to_list() == [False, True, True, False]
    # A and D are each the only shown postcode of their decile: each keeps its own rate, so
    # nothing of the hidden B and C enters a published smoothed rate
    assert postcodes["smoothed_rate_per_1000"].to_list()[0] == 0.0
    assert postcodes["smoothed_rate_per_1000"].to_list()[3] == pytest.approx(600.0)


def test_postcodes_shrink_within_their_deprivation_decile():
    # Within a decile the rates differ by Poisson noise only (A = 0), so each postcode
    # smooths to its decile's pooled rate; pooled across deciles they would not.
    postcodes = _postcode_rows(with_smoothed_rates(_table(_decile_members())))
    low, high = 1000 * 2 / 40, 1000 * 22 / 40
    assert postcodes["smoothed_rate_per_1000"].to_list() == pytest.approx([low, low, high, high])
