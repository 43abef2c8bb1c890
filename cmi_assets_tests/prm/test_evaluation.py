"""Evaluation measures on hand-worked examples, DeLong against a brute-force placement
computation, a bootstrap and scikit-learn, calibration against the simulation's truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

from cmi_assets.prm.evaluation import (
    auc_table,
    base_model_summary,
    calibration_fit,
    calibration_table,
    confusion_at_share,
    cumulative_lift_at,
    delong_auc,
    delong_auc_difference,
    misclassification_rate_at,
    outcomes_at_share_table,
    referred_count,
    threshold_table,
    top_share_flags,
)

# Twenty children, scores 0.95, 0.90, ..., 0.00 (so row i has rank i + 1), listed in
# descending score. Five have findings: ranks 1, 2, 4, 7 and 12. Prevalence 5/20 = 25%.
SCORES = np.round(0.95 - 0.05 * np.arange(20), 2)
FINDING = np.zeros(20, dtype=int)
FINDING[[0, 1, 3, 6, 11]] = 1
# Findings per child (events), for the NZ para 73 "share of all findings": 8 in total.
EVENTS = np.zeros(20, dtype=int)
EVENTS[[0, 1, 3, 6, 11]] = [3, 1, 1, 2, 1]


def test_referred_count_rounds_half_up_like_nz_table_2():
    assert referred_count(62_273, 0.01) == 623  # 622.73
    assert referred_count(62_273, 0.02) == 1_245  # 1,245.46
    assert referred_count(62_273, 0.05) == 3_114  # 3,113.65
    assert referred_count(20, 0.125) == 3  # exactly 2.5 -> 3


def test_threshold_table_by_hand():
    # Scrambled row order: the table must depend on scores, not on row positions.
    order = np.random.default_rng(0).permutation(20)
    table = threshold_table(FINDING[order], SCORES[order], shares=(0.05, 0.10, 0.25, 0.50), events=EVENTS[order])
    rows = {r["threshold"]: r for r in table.iter_rows(named=True)}
    assert list(rows) == ["Top 5%", "Top 10%", "Top 25%", "Top 50%", "All"]
    # Top 5% = 1 child (rank 1, a finding): a=1 b=0 c=4 d=15.
    #   PPV 1/1, NPV 15/19, sensitivity 1/5, specificity 15/15; events 3 of 8.
    # Top 10% = 2 children (ranks 1-2, both findings): a=2 b=0 c=3 d=15.
    #   PPV 1, NPV 15/18, sensitivity 2/5, specificity 1; events (3+1)/8 = 0.5 > 0.4 sensitivity.
    # Top 25% = 5 children (ranks 1-5, findings at 1, 2, 4): a=3 b=2 c=2 d=13.
    #   PPV 3/5, NPV 13/15, sensitivity 3/5, specificity 13/15; events 5/8.
    # Top 50% = 10 children (ranks 1-10, findings at 1, 2, 4, 7): a=4 b=6 c=1 d=9.
    #   PPV 4/10, NPV 9/10, sensitivity 4/5, specificity 9/15; events 7/8.
    # All = 20 children: a=5 b=15 c=0 d=0. PPV = prevalence 5/20; NPV undefined.
    expected = {
        "Top 5%": (1, 0, 4, 1.0, 15 / 19, 0.2, 1.0, 3 / 8),
        "Top 10%": (2, 0, 3, 1.0, 15 / 18, 0.4, 1.0, 0.5),
        "Top 25%": (5, 2, 2, 0.6, 13 / 15, 0.6, 13 / 15, 5 / 8),
        "Top 50%": (10, 6, 1, 0.4, 0.9, 0.8, 0.6, 7 / 8),
        "All": (20, 15, 0, 0.25, None, 1.0, 0.0, 1.0),
    }
    for label, (referred, fp, fn, ppv, npv, sensitivity, specificity, events) in expected.items():
        row = rows[label]
        assert (row["referred"], row["false_positives"], row["false_negatives"]) == (referred, fp, fn), label
        assert row["ppv"] == pytest.approx(ppv)
        assert row["sensitivity"] == pytest.approx(sensitivity)
        assert row["specificity"] == pytest.approx(specificity)
        assert row["share_of_events"] == pytest.approx(events)
        if npv is None:
            assert np.isnan(row["npv"])
        else:
            assert row["npv"] == pytest.approx(npv)
    assert rows["Top 25%"]["cutoff_score"] == pytest.approx(0.75)


def test_threshold_table_without_events_has_no_event_columns():
    table = threshold_table(FINDING, SCORES, shares=(0.1,))
    assert "share_of_events" not in table.columns
    assert table.height == 2


def test_misclassification_and_lift_at_top_share_by_hand():
    # Top 25%: FP 2 + FN 2 = 4 errors of 20 = 0.2; lift = sensitivity 0.6 / share 0.25 = 2.4,
    # equal to PPV 0.6 / prevalence 0.25.
    assert misclassification_rate_at(FINDING, SCORES, 0.25) == pytest.approx(0.2)
    assert cumulative_lift_at(FINDING, SCORES, 0.25) == pytest.approx(2.4)
    counts = confusion_at_share(FINDING, SCORES, 0.25)
    assert (counts.a, counts.b, counts.c, counts.d) == (3, 2, 2, 13)


def test_ties_at_the_cut_off_are_broken_by_tie_key():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    keys = np.array(["e", "d", "c", "b", "a"])
    # Top 40% = 2 children: the 0.9 and, of the three tied at 0.5, the smallest key "b".
    assert top_share_flags(scores, 0.4, tie_key=keys).tolist() == [True, False, False, True, False]
    # Without a key, row order decides: the first 0.5.
    assert top_share_flags(scores, 0.4).tolist() == [True, True, False, False, False]
    # The same children are chosen whatever the row order.
    perm = np.array([4, 2, 0, 3, 1])
    chosen = top_share_flags(scores[perm], 0.4, tie_key=keys[perm])
    assert set(keys[perm][chosen]) == {"e", "b"}


def test_outcomes_at_share_table_figure1_by_hand():
    # Outcome by age 1: findings at ranks 1 and 7 only; by age 2: all five.
    by_age_1 = np.zeros(20, dtype=int)
    by_age_1[[0, 6]] = 1
    table = outcomes_at_share_table({1: by_age_1, 2: FINDING}, SCORES, share=0.25)
    rows = {r["outcome"]: r for r in table.iter_rows(named=True)}
    # Top 25% = ranks 1-5. Age 1: 1 of 5 referred has a finding (PPV 0.2), 1 of 2 found (0.5).
    assert (rows["1"]["ppv"], rows["1"]["sensitivity"]) == (pytest.approx(0.2), pytest.approx(0.5))
    # Age 2: 3 of 5 (0.6), 3 of 5 (0.6). PPV builds with age, sensitivity can fall (NZ paras 75-76).
    assert (rows["2"]["ppv"], rows["2"]["sensitivity"]) == (pytest.approx(0.6), pytest.approx(0.6))


def test_delong_by_hand():
    # Positives 0.9, 0.4; negatives 0.5, 0.1. Placements: 0.9 beats both negatives (1.0),
    # 0.4 beats one (0.5); 0.5 is beaten by one positive (0.5), 0.1 by both (1.0).
    # AUC = (1 + 0.5) / 2 = 0.75. Var = var(1, 0.5)/2 + var(0.5, 1)/2 = 0.125/2 + 0.125/2.
    result = delong_auc([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1])
    assert result.auc == pytest.approx(0.75)
    assert result.std_error == pytest.approx(np.sqrt(0.125))


def brute_force_delong(y, scores):
    """DeLong et al. (1988) placements from the O(m n) kernel psi(x, z) = 1, 1/2, 0."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    psi = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    m, n = v10.shape[1], v01.shape[1]
    return psi.mean(axis=(1, 2)), np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


def test_delong_matches_brute_force_placements_with_ties():
    rng = np.random.default_rng(5)
    y = (rng.random(300) < 0.2).astype(int)
    a = np.round(rng.normal(size=300) + y, 1)  # rounding creates ties
    b = np.round(rng.normal(size=300) + 0.5 * y + 0.5 * a, 1)
    aucs, cov = brute_force_delong(y, np.vstack([a, b]))
    single = delong_auc(y, a)
    assert single.auc == pytest.approx(aucs[0], abs=1e-12)
    assert single.std_error == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-10)
    paired = delong_auc_difference(y, a, b)
    assert paired["difference"] == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    assert paired["std_error"] == pytest.approx(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), rel=1e-10)


def test_delong_point_estimate_equals_sklearn_and_se_agrees_with_bootstrap():
    rng = np.random.default_rng(2014)
    n = 200
    y = (rng.random(n) < 0.25).astype(int)
    score = np.round(rng.normal(size=n) + 1.2 * y, 2)
    result = delong_auc(y, score)
    assert result.auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    bootstrap = []
    for _ in range(2000):
        idx = rng.integers(0, n, size=n)
        if 0 < y[idx].sum() < n:
            bootstrap.append(brute_force_delong(y[idx], score[idx][None, :])[0][0])
    bootstrap_se = np.std(bootstrap, ddof=1)
    assert result.std_error == pytest.approx(bootstrap_se, rel=0.15)
    assert result.ci_low < result.auc < result.ci_high
    assert result.ci_high - result.ci_low == pytest.approx(2 * 1.959964 * result.std_error, rel=1e-5)


def test_auc_table_puts_an_oracle_beside_the_model(cohort):
    y = cohort["finding"].to_numpy()
    truth = cohort["true_risk"].to_numpy()
    crude = cohort["sibling_cp_history"].cast(pl.Float64).to_numpy()
    table = auc_table(y, {"model": crude, "oracle": truth})
    rows = {r["score"]: r for r in table.iter_rows(named=True)}
    assert rows["oracle"]["auc"] == pytest.approx(roc_auc_score(y, truth), abs=1e-12)
    assert rows["oracle"]["auc"] > rows["model"]["auc"]


def test_calibration_against_the_true_risk(cohort):
    y = cohort["finding"].to_numpy()
    truth = cohort["true_risk"].to_numpy()
    calibrated = calibration_fit(y, truth)
    assert calibrated.slope == pytest.approx(1.0, abs=0.1)
    assert calibrated.calibration_in_the_large == pytest.approx(0.0, abs=0.05)
    # Doubling the log-odds makes the scores too extreme: the recalibration slope halves.
    overconfident = calibration_fit(y, expit(2 * logit(truth)))
    assert overconfident.slope == pytest.approx(0.5, abs=0.05)


def test_calibration_table_by_hand():
    p = np.arange(1, 11) / 10
    y = np.array([0, 0, 0, 1, 0, 1, 1, 0, 1, 1])
    order = np.random.default_rng(1).permutation(10)  # bins follow the predictions, not row order
    table = calibration_table(y[order], p[order], n_bins=2)
    # Lowest five predictions 0.1-0.5: mean 0.3, outcomes 0 0 0 1 0 (one event);
    # highest five 0.6-1.0: mean 0.8, outcomes 1 1 0 1 1 (four events).
    assert table["n"].to_list() == [5, 5]
    assert table["mean_predicted"].to_list() == pytest.approx([0.3, 0.8])
    assert table["observed_rate"].to_list() == pytest.approx([0.2, 0.8])
    assert table["events"].to_list() == [1, 4]


def test_base_model_summary_is_the_table_1_column():
    summary = base_model_summary(FINDING, SCORES, FINDING, SCORES, sample_size=20, share=0.25)
    assert summary["number_in_cohort"] == 20
    assert summary["prevalence"] == pytest.approx(0.25)
    assert summary["misclassification_rate"] == pytest.approx(0.2)
    assert summary["cumulative_lift"] == pytest.approx(2.4)
    # AUC by hand: each positive's share of negatives scored below it.
    # Ranks 1, 2: all 15 negatives below; rank 4: 14; rank 7: 12; rank 12: 8 -> 64 / 75.
    assert summary["auc_validation"] == pytest.approx(64 / 75)


def test_errors_do_not_echo_values():
    with pytest.raises(ValueError) as error:
        threshold_table([0, 1, 7], [0.1, 0.2, 0.3])
    assert "7" not in str(error.value).replace("row 3", "")


def test_table3_counts_one_group_at_thresholds_set_on_everyone():
    # 10 children, scores 10..1; top 20% = the two highest (ids 0, 1) whoever they are.
    # The group is children 1, 2, 3, 9: child 1 referred and positive, 2 and 3 not referred
    # (3 positive), 9 not referred negative.
    outcome = [1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    score = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    group = [False, True, True, True, False, False, False, False, False, True]
    table = threshold_table(outcome, score, shares=(0.2,), group=group)
    top = table.row(0, named=True)
    assert (
        top["referred"],
        top["true_positives"],
        top["false_positives"],
        top["false_negatives"],
        top["true_negatives"],
    ) == (1, 1, 0, 1, 2)
    assert top["cutoff_score"] == 9.0  # the population's cut-off, not the group's
    assert top["ppv"] == 1.0 and top["sensitivity"] == 0.5
    everyone = table.row(1, named=True)
    assert everyone["threshold"] == "All" and everyone["referred"] == 4
    # without a group it is Table 2
    assert threshold_table(outcome, score, shares=(0.2,)).row(0, named=True)["referred"] == 2
