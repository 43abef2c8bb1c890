"""Prior correction (King and Zeng 2001): a hand-worked offset, then a simulated population
where the logistic model is true: after under-sampling, fitting and correcting, the mean
predicted probability on the whole population returns to the population prevalence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmi_assets.prm.design import design_matrix, infer_variable_specs
from cmi_assets.prm.evaluation import calibration_fit
from cmi_assets.prm.prior import PriorCorrection, prior_correction_offset
from cmi_assets.prm.sampling import modelling_sample
from cmi_assets.prm.scoring import scorer_from_fit
from cmi_assets.prm.stepwise import fit_logit


def test_offset_by_hand():
    # tau = 2%, ybar = 20%: (0.98 / 0.02) * (0.2 / 0.8) = 49 * 0.25 = 12.25; shift = -ln 12.25.
    assert prior_correction_offset(0.02, 0.20) == pytest.approx(-math.log(12.25), abs=1e-15)
    assert PriorCorrection(0.02, 0.20).intercept_shift == pytest.approx(-2.505525936990736, abs=1e-12)
    # No under-sampling, no shift.
    assert prior_correction_offset(0.1, 0.1) == 0.0
    # A corrected probability: sample log-odds 0 (p = 0.5 in the sample) -> 1 / (1 + 12.25).
    assert PriorCorrection(0.02, 0.20).corrected_probability(np.array([0.0]))[0] == pytest.approx(1 / 13.25)


def test_prevalences_outside_the_unit_interval_are_rejected():
    with pytest.raises(ValueError):
        PriorCorrection(0.0, 0.2)
    with pytest.raises(ValueError):
        prior_correction_offset(0.05, 1.0)


def fit_true_model(sample, true_variables):
    """A plain logistic fit of the true variables on the training set, prior-corrected."""
    specs = infer_variable_specs(sample.train, sorted(true_variables))
    X, names = design_matrix(sample.train, specs)
    fit = fit_logit(sample.train["finding"].to_numpy().astype(float), X)
    return scorer_from_fit(specs, names, fit.params)


def test_prior_correction_restores_the_population_prevalence(cohort, true_variables):
    y = cohort["finding"].to_numpy()
    tau = y.mean()
    relative_errors = []
    for seed in range(6):
        sample = modelling_sample(cohort, "finding", np.random.default_rng(seed))
        assert sample.train_prevalence == pytest.approx(0.2, abs=0.002)  # 1 positive : 4 negatives
        scorer = fit_true_model(sample, true_variables)
        uncorrected = scorer.predict_proba(cohort).mean()
        corrected = scorer.with_prior_correction(sample.prior_correction()).predict_proba(cohort)
        relative_errors.append(corrected.mean() / tau - 1)
        # Without the correction the model predicts roughly the sample's 20%, not 3%.
        assert uncorrected > 4 * tau
        if seed == 0:
            calibration = calibration_fit(y, corrected)
            assert calibration.slope == pytest.approx(1.0, abs=0.08)
            assert calibration.calibration_in_the_large == pytest.approx(0.0, abs=0.05)
    # Each corrected mean is within 5% of tau (about 3 sampling SDs for ~840 training
    # positives), and the average over six independent under-samples within 2%: the
    # correction is unbiased, not merely close.
    assert max(abs(e) for e in relative_errors) < 0.05
    assert abs(np.mean(relative_errors)) < 0.02
