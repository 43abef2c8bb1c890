"""Stepwise logistic regression: coefficients against a direct statsmodels fit, the score
and Wald tests against statsmodels' own, selection against the simulation's truth, and the
entry / stay levels and quasi-separation handling on crafted cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy.special import expit
from scipy.stats import chi2

from cmi_assets.prm.design import infer_variable_specs, variable_block
from cmi_assets.prm.sampling import modelling_sample
from cmi_assets.prm.stepwise import StepwiseFitError, fit_logit, score_tests, stepwise_logistic, wald_test


@pytest.fixture(scope="module")
def train(cohort):
    return modelling_sample(cohort, "finding", np.random.default_rng(7)).train


@pytest.fixture(scope="module")
def model(train, candidates):
    return stepwise_logistic(train, "finding", candidates)


def hand_coded_design(frame: pl.DataFrame, selected, references) -> tuple[np.ndarray, list[str]]:
    """Dummies built here with plain numpy, independently of prm.design."""
    columns, names = [np.ones(frame.height)], ["intercept"]
    for name in selected:
        values = frame[name].to_numpy()
        if name in references:
            for level in sorted(set(values.tolist()) - {references[name]}):
                columns.append((values == level).astype(float))
                names.append(f"{name}[{level}]")
        else:
            columns.append(values.astype(float))
            names.append(name)
    return np.column_stack(columns), names


def test_coefficients_equal_a_direct_statsmodels_fit(model, train):
    references = {s.name: s.reference for s in model.selected if s.kind == "categorical"}
    # Fit the selected variables in a different (alphabetical) order: same estimates.
    X, names = hand_coded_design(train, sorted(model.selected_names), references)
    direct = sm.Logit(train["finding"].to_numpy().astype(float), X).fit(method="newton", disp=0, tol=1e-12)
    expected = dict(zip(names, direct.params))
    expected_se = dict(zip(names, direct.bse))
    assert set(model.column_names) == set(names)
    for column, coefficient in model.coefficient_by_column.items():
        assert coefficient == pytest.approx(expected[column], abs=1e-8)
    for column, se in zip(model.column_names, model.standard_errors):
        assert se == pytest.approx(expected_se[column], rel=1e-6)
    assert model.log_likelihood == pytest.approx(direct.llf, abs=1e-8)


def test_recovers_the_true_variables_and_drops_pure_noise(model, true_variables, train):
    assert set(model.selected_names) == true_variables
    assert sorted(model.entry_ranks.values()) == list(range(1, len(true_variables) + 1))
    # The first entrant is the variable with the most significant univariate association,
    # checked here with likelihood-ratio tests of one-variable statsmodels fits.
    y = train["finding"].to_numpy().astype(float)
    null_llf = sm.Logit(y, np.ones((len(y), 1))).fit(disp=0).llf
    lr_p = {}
    for spec in infer_variable_specs(train, sorted(true_variables)):
        X = np.column_stack([np.ones(len(y)), variable_block(train, spec)])
        lr = 2 * (sm.Logit(y, X).fit(disp=0).llf - null_llf)
        lr_p[spec.name] = chi2.logsf(lr, spec.degrees_of_freedom)
    first = min(lr_p, key=lr_p.get)
    assert model.entry_ranks[first] == 1


def test_categorical_variables_enter_as_one_group(model):
    enter = {r.variable: r for r in model.history if r.action == "enter"}
    assert enter["mother_age_band"].df == 5  # six bands, one reference
    assert enter["benefit_time"].df == 3
    age_columns = [c for c in model.column_names if c.startswith("mother_age_band[")]
    assert len(age_columns) == 5


def test_explicit_reference_level_is_the_omitted_dummy(train):
    fit = stepwise_logistic(train, "finding", ["mother_age_band"], references={"mother_age_band": "25-29"})
    assert "mother_age_band[25-29]" not in fit.column_names
    assert "mother_age_band[30-34]" in fit.column_names
    # Changing the reference re-expresses the same model: the log-likelihood is unchanged.
    other = stepwise_logistic(train, "finding", ["mother_age_band"], references={"mother_age_band": "40+"})
    assert other.log_likelihood == pytest.approx(fit.log_likelihood, abs=1e-9)


def test_score_and_wald_statistics_match_statsmodels(train):
    y = train["finding"].to_numpy().astype(float)
    specs = {s.name: s for s in infer_variable_specs(train, ["sibling_cp_history", "benefit_time", "male"])}
    base = np.column_stack([np.ones(len(y)), variable_block(train, specs["sibling_cp_history"])])
    fitted = fit_logit(y, base).fitted
    blocks = {n: variable_block(train, specs[n]) for n in ("benefit_time", "male")}
    ours = score_tests(y, base, fitted, blocks)
    glm = sm.GLM(y, base, family=sm.families.Binomial()).fit()
    for name, block in blocks.items():
        expected = glm.score_test(exog_extra=block, return_object=True)
        assert ours[name][0] == pytest.approx(float(expected.statistic[0]), rel=1e-8)
        assert ours[name][1] == expected.k_constraint == block.shape[1]

    full = np.hstack([base, blocks["benefit_time"]])
    fit = fit_logit(y, full)
    restriction = np.zeros((3, full.shape[1]))
    restriction[:, 2:5] = np.eye(3)
    expected = fit.result.wald_test(restriction, scalar=True)
    statistic, df = wald_test(fit.params, fit.covariance, [2, 3, 4])
    assert statistic == pytest.approx(float(expected.statistic), rel=1e-10)
    assert df == 3


@pytest.fixture(scope="module")
def crafted():
    """A strong marker plus a weak one whose Wald p-value lands between 0.02 and 0.2."""
    rng = np.random.default_rng(11)
    n = 3000
    strong = rng.random(n) < 0.3
    weak = rng.normal(size=n)
    y = (rng.random(n) < expit(-1.5 + 1.2 * strong + 0.06 * weak)).astype(int)
    return pl.DataFrame({"strong": strong, "weak": weak, "y": y})


def test_stay_level_decides_whether_a_weak_variable_survives(crafted):
    X = np.column_stack([np.ones(crafted.height), crafted["strong"].to_numpy(), crafted["weak"].to_numpy()])
    p_weak = sm.Logit(crafted["y"].to_numpy(), X.astype(float)).fit(disp=0).pvalues[2]
    assert 0.02 < p_weak < 0.2  # precondition of the crafted case

    strict = stepwise_logistic(crafted, "y", ["strong", "weak"], entry=1.0, stay=0.02)
    lenient = stepwise_logistic(crafted, "y", ["strong", "weak"], entry=1.0, stay=0.2)
    assert strict.selected_names == ["strong"]
    assert lenient.selected_names == ["strong", "weak"]
    # Under stay 0.02 "weak" entered (entry level 1) and was removed at the next step.
    actions = [(r.step, r.action, r.variable) for r in strict.history]
    assert actions == [(1, "enter", "strong"), (2, "enter", "weak"), (3, "remove", "weak")]
    assert strict.stop_reason.startswith("model identical")
    weak_selection = {s.variable: s for s in strict.selections}["weak"]
    assert (weak_selection.first_entry_step, weak_selection.removed_step, weak_selection.selected) == (2, 3, False)


def test_entry_level_keeps_a_weak_variable_out(crafted):
    fit = stepwise_logistic(crafted, "y", ["strong", "weak"], entry=0.01, stay=0.2)
    assert fit.selected_names == ["strong"]
    assert [r.variable for r in fit.history] == ["strong"]
    assert fit.stop_reason == "no candidate meets the entry level"


def test_quasi_separation_skips_the_candidate_and_says_so(crafted):
    rng = np.random.default_rng(3)
    site = np.where(rng.random(crafted.height) < 0.5, "north", "south")
    y = crafted["y"].to_numpy()
    # A small site where no child has the outcome: its dummy's MLE is minus infinity.
    empty_site = np.flatnonzero(y == 0)[:25]
    site[empty_site] = "island"
    frame = crafted.with_columns(pl.Series("site", site))
    with pytest.raises(StepwiseFitError):
        specs = infer_variable_specs(frame, ["site"])
        fit_logit(y.astype(float), np.column_stack([np.ones(len(y)), variable_block(frame, specs[0])]))

    fit = stepwise_logistic(frame, "y", ["strong", "site"], entry=1.0, stay=0.2)
    skipped = [r for r in fit.history if r.action == "skip"]
    assert [r.variable for r in skipped] == ["site"]
    assert "separation" in skipped[0].note
    assert fit.selected_names == ["strong"]
    assert "separation" in {s.variable: s for s in fit.selections}["site"].note


def test_constant_outcome_is_a_clear_error(crafted):
    with pytest.raises(ValueError, match="only one value"):
        stepwise_logistic(crafted.with_columns(pl.lit(0).alias("y")), "y", ["strong"])
