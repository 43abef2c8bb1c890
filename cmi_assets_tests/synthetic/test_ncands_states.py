"""State sizes, effects and the intercept (CFSR R4 rules, section 2.3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from cmi_assets.reference.random_streams import component_rng
from cmi_assets.synthetic.ncands_states import (
    STATE_CODES,
    build_state_table,
    intercept_for_pooled_rate,
    state_rate_quantiles,
    state_sizes,
)
from cmi_assets.synthetic.profile import load_profile

PUBLISHED_RATES = {"min": 0.017, "q1": 0.049, "median": 0.078, "q3": 0.100, "max": 0.168}


def test_state_codes_are_50_states_dc_and_pr():
    assert len(STATE_CODES) == len(set(STATE_CODES)) == 52
    assert {"DC", "PR"} <= set(STATE_CODES)


@pytest.mark.parametrize("n", [14, 51, 52])
def test_sizes_have_the_published_extremes_and_median(n):
    sizes = state_sizes(n, 635, 6015, 51319)
    assert sizes[0] == pytest.approx(51319) and sizes[-1] == pytest.approx(635)
    assert np.all(np.diff(sizes) < 0)
    if n % 2:
        assert np.median(sizes) == pytest.approx(6015)


def test_rate_quantiles_reproduce_the_five_number_summary():
    # numpy's default percentile is R's type 7, the positions the function inverts; with
    # 49 states every quartile falls on a state (48 / 4 = 12), so the match is exact.
    rates = state_rate_quantiles(49, PUBLISHED_RATES)
    summary = np.percentile(rates, [0, 25, 50, 75, 100])
    assert summary == pytest.approx([0.017, 0.049, 0.078, 0.100, 0.168], abs=1e-9)
    assert np.percentile(state_rate_quantiles(52, PUBLISHED_RATES), [0, 50, 100]) == pytest.approx(
        [0.017, 0.078, 0.168], rel=0.02
    )


def test_intercept_by_hand_for_one_cell():
    # One state, one cell: expit(0 + 0 + d) = 0.2  =>  d = logit(0.2) = -1.386...
    d = intercept_for_pooled_rate(np.array([1.0]), np.array([0.0]), np.array([0.0]), np.array([1.0]), 0.2)
    assert d == pytest.approx(np.log(0.2 / 0.8))
    assert expit(d) == pytest.approx(0.2)


@pytest.mark.parametrize("profile", ["default", "national"])
def test_expected_pooled_rate_and_median_state(profile):
    cfg = load_profile(profile)["ncands"]
    table = build_state_table(cfg, 1.0, component_rng(0, "ncands states"))
    weights = table["size"].to_numpy() / table["size"].sum()
    pooled = float(table["expected_rate"].to_numpy() @ weights)
    target = cfg["recurrence"]["national_performance"] / (1 - cfg["recurrence"]["rules_attrition"])
    assert pooled == pytest.approx(target, abs=1e-9)
    assert 0.07 < table["expected_rate"].median() < 0.09
    assert table["size"].sum() == pytest.approx(state_sizes(len(cfg["states"]), 635, 6015, 51319).sum() * cfg["volume"])
