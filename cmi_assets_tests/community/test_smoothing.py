"""Empirical-Bayes smoothing: Marshall's global estimator against a hand-worked example,
and on a synthetic world, against the world's true area rates.

The true area rate. The generator gives every child a true probability of a recorded
substantiated finding by age 5, `p_finding_by_age_5` = 1 - exp(-exp(eta) Lambda(5))
(synthetic.simulate.children_truth; eta holds the child's markers, the CP office effect
and the cohort trend). An area's true rate is what its rate estimates: the expected rate
of the children the area bears, not of the few born there in one year (which of them are
born there is itself part of the sampling). So the truth of a postcode is the mean of p
over its children of every other study cohort followed to age 5 (the cohort tested is left
out, so the truth shares no draw with the rate it judges), times one state-wide factor,
the world's realised findings by 5 over the world's mean p: p is the intensity model's
probability before deaths end a child's records and the intensity cap binds, and the raw
rate is unbiased for the recorded outcome, not for p.

Postcodes come from the truth (children.birth_postcode): the analysis zone carries county
and deprivation decile but no postcode, so the asset has no postcode level yet; the
library's postcode level is what this tests.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cmi_assets.community.indicators import load_children
from cmi_assets.community.rates import with_smoothed_rates
from cmi_assets.community.smoothing import marshall_global
from cmi_assets.community.table import child_indicator_counts
from cmi_assets.incidence.sources import observed_to_age

SMALL_AREA_CHILDREN = 50
BETTER_SHARE = 0.80
TEST_COHORTS = (2008, 2010, 2012, 2014)
LAST_COHORT_FOLLOWED_TO_5 = 2016  # the world's data end in 2021


def test_marshall_global_hand_worked():
    # x = 0, 10, 40 in n = 50, 50, 100: m = 50/200 = 1/4; rates 0, 1/5, 2/5;
    # s2 = (50/16 + 50/400 + 100 * 9/400) / 200 = 11/400; n_bar = 200/3, m/n_bar = 3/800;
    # A = 22/800 - 3/800 = 19/800; m/n_i = 4/800, 4/800, 2/800 -> C = 19/23, 19/23, 19/21
    smoothed = marshall_global([0, 10, 40], [50, 50, 100])
    m = 0.25
    expected = [m + 19 / 23 * (0 - m), m + 19 / 23 * (0.2 - m), m + 19 / 21 * (0.4 - m)]
    assert smoothed == pytest.approx(expected, rel=1e-12)
    assert smoothed == pytest.approx([1 / 23, 4.8 / 23, 8.1 / 21], rel=1e-12)


def test_marshall_global_edge_cases():
    # rates that vary no more than Poisson noise: A = 0, every area gets the overall rate
    assert marshall_global([1, 2, 1], [100, 100, 100]) == pytest.approx([4 / 300] * 3)
    # one area keeps its own rate; no events anywhere stays 0; an empty area has no rate
    assert marshall_global([7], [50]) == pytest.approx([7 / 50])
    assert marshall_global([0, 0], [10, 20]).tolist() == [0.0, 0.0]
    out = marshall_global([3, 0], [30, 0])
    assert out[0] == pytest.approx(0.1) and np.isnan(out[1])
    # two areas with the same raw rate (0): the smaller is pulled further towards m
    out = marshall_global([0, 0, 30, 60], [10, 200, 100, 100])
    m = 90 / 410
    assert 0 < out[1] < out[0] < m


@pytest.fixture(scope="module")
def world_and_events():
    import duckdb

    from cmi_assets.synthetic.profile import load_profile
    from cmi_assets.synthetic.world import simulate_world
    from cmi_assets_tests.incidence.truth_world import load_both_levels

    world = simulate_world(load_profile("incidence"), 0.02, 4)
    con = duckdb.connect()
    load_both_levels(con, world)
    yield world, con
    con.close()


def true_postcode_rates(world, tested_cohort: int) -> pl.DataFrame:
    """postcode, true_rate (per child): the module docstring's truth."""
    study = world.children.filter(pl.col("in_study_population") & (pl.col("birth_year") <= LAST_COHORT_FOLLOWED_TO_5))
    level = study["finding_by_age_5"].mean() / study["p_finding_by_age_5"].mean()
    others = study.filter(pl.col("birth_year") != tested_cohort)
    return others.group_by(pl.col("birth_postcode").alias("postcode")).agg(
        (pl.col("p_finding_by_age_5").mean() * level).alias("true_rate")
    )


def test_smoothed_rates_beat_raw_rates_in_small_areas(world_and_events):
    world, con = world_and_events
    postcodes = world.children.select(
        pl.col("true_person_id").cast(pl.String).alias("person_key"), pl.col("birth_postcode").alias("postcode")
    )
    judged = []
    for year in TEST_COHORTS:
        children = load_children(con, year, "conservative", None).join(postcodes, on="person_key", how="left")
        table = with_smoothed_rates(child_indicator_counts(children, "CT", "conservative", str(year)))
        areas = table.filter(
            (pl.col("indicator") == "substantiations")
            & (pl.col("geography_level") == "postcode")
            & (pl.col("group_type") == "all")
        )
        # the raw rates are the recorded outcome of the children followed to 5, area by area
        followed = children.filter(observed_to_age() & pl.col("county_fips").is_not_null())
        assert areas["population"].sum() == followed.height
        judged.append(areas.join(true_postcode_rates(world, year), left_on="geography_code", right_on="postcode"))
    small = pl.concat(judged).filter(pl.col("population") < SMALL_AREA_CHILDREN)
    assert small.height > 500  # about 290 postcodes a cohort, nearly all small at this scale
    raw_error = (small["rate_per_1000"] / 1000 - small["true_rate"]).abs()
    smoothed_error = (small["smoothed_rate_per_1000"] / 1000 - small["true_rate"]).abs()
    share = float((smoothed_error < raw_error).mean())
    print(
        f"small areas {small.height}, smoothed better in {share:.3f}, MAE raw {raw_error.mean():.4f} smoothed {smoothed_error.mean():.4f}"
    )
    assert share >= BETTER_SHARE, f"smoothed beat raw in {share:.1%} of small areas"
    # and on average by a wide margin (the mean absolute error)
    assert smoothed_error.mean() < 0.5 * raw_error.mean()
