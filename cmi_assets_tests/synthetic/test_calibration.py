"""Calibration of the default world against the NZ study (Table 8 columns 1-2, findings by
ages 2 and 5, notifications by 2, registration by 3 months, oracle AUC), at scale 1 for
the 2007-2010 cohorts in memory; and the moment-matching solver on a case with a known
answer."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cmi_assets.synthetic.calibration import (
    CALIBRATION_BIRTH_YEARS,
    FINDINGS_BY_AGE_2,
    FINDINGS_BY_AGE_5,
    NOTIFICATIONS_BY_AGE_2,
    ORACLE_AUC,
    REGISTERED_BY_3_MONTHS,
    TABLE8_TARGETS,
    auc,
    calibration_table,
    headline_rates,
    solve_outcome_coefficients,
)
from cmi_assets.synthetic.markers import TABLE8_MARKERS
from cmi_assets.synthetic.outcomes import cumulative_baseline
from cmi_assets.synthetic.profile import load_profile
from cmi_assets.synthetic.world import simulate_world


@pytest.fixture(scope="module")
def scale_one_world():
    return simulate_world(load_profile(), 1.0, 2024, birth_years=CALIBRATION_BIRTH_YEARS)


@pytest.mark.slow
def test_table8_profile_matches_the_nz_study(scale_one_world):
    table = calibration_table(scale_one_world.children)
    with pl.Config(tbl_rows=30, tbl_width_chars=200, fmt_str_lengths=70):
        print(table)
    misses = table.filter(
        ((pl.col("measured_all") - pl.col("target_all")).abs() > pl.col("tolerance_all"))
        | ((pl.col("measured_findings") - pl.col("target_findings")).abs() > pl.col("tolerance_findings"))
    )
    assert misses.height == 0, misses


@pytest.mark.slow
def test_outcome_rates_registration_and_oracle_auc(scale_one_world):
    rates = headline_rates(scale_one_world.children)
    print(rates)
    assert rates["children"] > 200_000  # ~60,000 a year in the study population
    assert FINDINGS_BY_AGE_2[0] <= rates["findings_by_age_2_pct"] <= FINDINGS_BY_AGE_2[1]
    assert abs(rates["findings_by_age_5_pct"] - FINDINGS_BY_AGE_5) <= 0.6
    assert abs(rates["notifications_by_age_2_pct"] - NOTIFICATIONS_BY_AGE_2) <= 1.0
    assert abs(rates["registered_by_3_months_pct"] - REGISTERED_BY_3_MONTHS) <= 1.0
    assert ORACLE_AUC[0] <= rates["oracle_auc"] <= ORACLE_AUC[1]
    by_year = rates["findings_by_age_2_by_cohort"]
    assert by_year[2010] > by_year[2007]  # rising slightly across cohorts (NZ Table 1)


def test_solver_recovers_known_coefficients():
    """Simulate markers and outcomes from known alpha/beta; targets taken from that truth;
    the solver, started elsewhere, must land on the generating coefficients."""
    rng = np.random.default_rng(7)
    params = load_profile()["world"]
    n, k = 200_000, len(TABLE8_MARKERS)
    z = rng.standard_normal(n)
    x = (rng.random((n, k)) < 1 / (1 + np.exp(-(-1.5 + 0.8 * z[:, None] + rng.normal(0, 0.5, k))))).astype(float)
    true_alpha, true_beta = -6.5, rng.uniform(-0.3, 1.5, k)
    eta = true_alpha + x @ true_beta
    lam2 = cumulative_baseline(2.0, params)
    p = 1 - np.exp(-np.exp(eta) * lam2)
    frame = pl.DataFrame({f"t8_{m}": x[:, j].astype(bool) for j, m in enumerate(TABLE8_MARKERS)}).with_columns(
        pl.Series("eta", eta), pl.lit(True).alias("in_study_population"), pl.lit(2008).alias("birth_year")
    )
    targets = {
        m: (TABLE8_TARGETS[m][0], 50.0, 100 * float(p @ x[:, j] / p.sum())) for j, m in enumerate(TABLE8_MARKERS)
    }
    params["outcomes"]["alpha"], params["outcomes"]["beta"] = true_alpha, dict(zip(TABLE8_MARKERS, true_beta.tolist()))
    import cmi_assets.synthetic.calibration as calibration

    saved = dict(calibration.TABLE8_TARGETS)
    calibration.TABLE8_TARGETS.update(targets)
    try:
        start = dict(params)
        start["outcomes"] = {**params["outcomes"], "alpha": -5.0, "beta": dict.fromkeys(TABLE8_MARKERS, 0.0)}
        # eta was built from the start values' offset: keep the non-tilted part at zero
        frame = frame.with_columns(pl.Series("eta", -5.0 + np.zeros(n)))
        solved = solve_outcome_coefficients(frame, start, float(p.mean()))
    finally:
        calibration.TABLE8_TARGETS.update(saved)
    assert abs(solved["alpha"] - true_alpha) < 0.02
    assert np.allclose([solved["beta"][m] for m in TABLE8_MARKERS], true_beta, atol=0.02)


def test_auc_matches_a_hand_count():
    score = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    outcome = np.array([0, 0, 1, 1, 1])
    # positive/negative pairs: (0.35 vs 0.1 win, vs 0.4 loss), (0.8: 2 wins), (0.4: win, tie) -> 4.5 / 6
    assert auc(score, outcome) == pytest.approx(4.5 / 6)
