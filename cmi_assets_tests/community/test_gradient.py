"""The deprivation gradient: the table holds exactly the published state-by-decile and
county rows of the named period (suppressed ones kept, flagged, their values null), the
top-over-bottom rate ratio's exact interval has the tail areas statsmodels' exact
conditional test gives at its ends, and the chart draws one point with an interval per
published cell and writes "suppressed" for the others."""

from __future__ import annotations

import math

import polars as pl
import pytest
from statsmodels.stats.rates import test_poisson_2indep as poisson_2indep

from cmi_assets.community import gradient
from cmi_assets.community.maps import county_boundaries, pyplot
from cmi_assets_tests.community.map_fixtures import CT_COUNTIES, long_table


def test_table_holds_the_deciles_and_counties_of_the_newest_period():
    table = long_table()
    names = {code: b.name for code, b in county_boundaries(CT_COUNTIES).items()}
    result = gradient.gradient_table(table, county_names=names)
    assert set(result["period"]) == {"2012"} and set(result["linkage_level"]) == {"conservative"}
    for indicator in gradient.GRADIENT_INDICATORS:
        mine = result.filter(pl.col("indicator") == indicator)
        deciles = mine.filter(pl.col("by") == gradient.DECILE)
        assert deciles["area"].to_list() == [str(d) for d in range(1, 11)]
        source = table.filter(
            (pl.col("indicator") == indicator)
            & (pl.col("linkage_level") == "conservative")
            & (pl.col("period") == "2012")
            & (pl.col("group_type") == "deprivation_decile")
        ).sort(pl.col("group_value").cast(pl.Int64))
        assert deciles["rate_upper"].to_list() == source["rate_upper"].to_list()
        assert deciles.filter(pl.col("suppressed"))["area"].to_list() == ["4"]
        counties = mine.filter(pl.col("by") == gradient.COUNTY)
        assert sorted(counties["area"]) == sorted(names.values())
        shown = counties.drop_nulls("rate_per_1000")["rate_per_1000"].to_list()
        assert shown == sorted(shown) and counties.filter(pl.col("suppressed")).height == 2
    older = gradient.gradient_table(table, period="2011", linkage_level="less_conservative")
    assert set(older["period"]) == {"2011"} and set(older["linkage_level"]) == {"less_conservative"}


@pytest.mark.parametrize("counts", [(60, 1000, 20, 1200), (7, 300, 2, 900), (150, 2500, 90, 2600)])
def test_rate_ratio_interval_has_exact_tail_areas(counts):
    ratio, lower, upper = gradient.exact_rate_ratio(*counts)
    a, pa, b, pb = counts
    assert ratio == pytest.approx((a / pa) / (b / pb))
    low_tail = poisson_2indep(a, pa, b, pb, value=lower, method="exact-cond", alternative="larger").pvalue
    high_tail = poisson_2indep(a, pa, b, pb, value=upper, method="exact-cond", alternative="smaller").pvalue
    assert low_tail == pytest.approx(0.025, abs=1e-6) and high_tail == pytest.approx(0.025, abs=1e-6)
    assert lower < ratio < upper


def test_decile_ratio_rises_with_deprivation_and_is_null_when_an_end_is_hidden():
    ratios = gradient.decile_ratios(gradient.gradient_table(long_table()))
    # the fixture's rates rise from about 26 to 80 per 1,000: a ratio near 3
    assert ratios["rate_ratio"].to_list() == pytest.approx([80 / 26] * 2, rel=0.25)
    assert (ratios["ratio_lower"] > 1).all()
    hidden = gradient.decile_ratios(gradient.gradient_table(long_table(suppressed_deciles=("1",))))
    assert hidden["rate_ratio"].is_null().all() and hidden["decile_10_per_1000"].is_not_null().all()
    assert math.isnan(gradient.exact_rate_ratio(0, 100, 0, 100)[0])


def test_chart_draws_a_point_with_interval_per_published_cell():
    result = gradient.gradient_table(long_table())
    figure = gradient.gradient_figure(result, "Gradient")
    left, right = figure.axes
    for axes, by in ((left, gradient.DECILE), (right, gradient.COUNTY)):
        part = result.filter(pl.col("by") == by)
        points = sum(len(line.get_xdata()) for line in axes.lines if line.get_marker() == "o")
        assert points == part.filter(~pl.col("suppressed")).height
        written = [t.get_text() for t in axes.texts]
        assert written.count("suppressed") == part.filter(pl.col("suppressed")).height
        # each point's error bar spans its exact interval
        bars = [c for c in axes.collections if c.get_segments()]
        spans = sorted(round(float(s[1][1] - s[0][1]), 6) for c in bars for s in c.get_segments())
        expected = part.filter(~pl.col("suppressed")).select(pl.col("rate_upper") - pl.col("rate_lower"))
        assert spans == sorted(round(v, 6) for v in expected.to_series())
    pyplot().close(figure)
    assert gradient.gradient_chart(result, "Gradient")[:4] == b"\x89PNG"
