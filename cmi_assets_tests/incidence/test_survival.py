"""Kaplan-Meier against a hand-worked example and statsmodels' SurvfuncRight."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from cmi_assets.incidence.survival import kaplan_meier


def test_hand_worked_example():
    # times 1, 2, 2(c), 3, 4(c), 5: at 1: 6 at risk, 1 event -> S = 5/6; at 2: 5 at risk,
    # 1 event (the censoring at 2 counts as at risk) -> 5/6 * 4/5 = 2/3; at 3: 3 at risk -> 4/9;
    # at 5: 1 at risk -> 0
    km = kaplan_meier(np.array([1, 2, 2, 3, 4, 5]), np.array([1, 1, 0, 1, 0, 1]))
    assert km.times.tolist() == [1, 2, 3, 5]
    assert km.at_risk.tolist() == [6, 5, 3, 1]
    assert km.survival == pytest.approx([5 / 6, 2 / 3, 4 / 9, 0.0])
    assert km.cumulative_incidence_at(np.array([0, 1.5, 2, 4.9, 5])) == pytest.approx([0, 1 / 6, 1 / 3, 5 / 9, 1])
    # Greenwood at t=2: S^2 (1/(6*5) + 1/(5*4))
    assert km.variance[1] == pytest.approx((2 / 3) ** 2 * (1 / 30 + 1 / 20))


def test_against_statsmodels():
    rng = np.random.default_rng(3)
    time = rng.integers(1, 400, 300).astype(float)
    event = rng.random(300) < 0.4
    km = kaplan_meier(time, event)
    ref = SurvfuncRight(time, event.astype(int))
    assert km.times == pytest.approx(ref.surv_times)
    assert km.survival == pytest.approx(ref.surv_prob)
    assert np.sqrt(km.variance[:-1]) == pytest.approx(ref.surv_prob_se[:-1], rel=1e-6)


def test_log_log_interval_at_a_hand_worked_point():
    km = kaplan_meier(np.array([1, 2, 2, 3, 4, 5]), np.array([1, 1, 0, 1, 0, 1]))
    s, var = 2 / 3, (2 / 3) ** 2 * (1 / 30 + 1 / 20)
    se = np.sqrt(var) / (s * abs(np.log(s)))
    lower, upper = km.interval_at(np.array([2.0]))
    assert lower[0] == pytest.approx(1 - s ** np.exp(-1.959964 * se), rel=1e-6)
    assert upper[0] == pytest.approx(1 - s ** np.exp(1.959964 * se), rel=1e-6)
    assert lower[0] < 1 / 3 < upper[0]
