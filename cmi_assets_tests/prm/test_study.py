"""The study's further models (Tables 9-11, Figure 3) on simulated cohorts carrying every
Box 1 variable, where findings depend on three of them: the recipe against a direct fit,
each table's numbers against an independent recomputation, and the small-sample notes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit

from cmi_assets.cohorts import FEATURE_CATEGORIES
from cmi_assets.prm.evaluation import confusion_at_share, confusion_counts, delong_auc, referred_count, top_n_flags
from cmi_assets.prm.proportionality import allocate_referrals
from cmi_assets.prm.sampling import modelling_sample
from cmi_assets.prm.stepwise import stepwise_logistic
from cmi_assets.prm.study import (
    BOX2_REPLACES,
    NZ_REFERRAL_SHARE,
    TABLE9_SPLITS,
    TABLE11_VARIANTS,
    FitSettings,
    GroupSplit,
    ModelNotFitted,
    agency_data_table,
    alternative_targets_table,
    available_from,
    figure3_table,
    fit_sampled_stepwise,
    model_candidates,
    selected_threshold,
    separate_models_table,
)
from cmi_assets.reference.random_streams import model_rng

OUTCOME = "finding_by_age_2"
# a few Box 1 variables drive the findings; cp_office (44 levels) stays out to keep fits quick
CANDIDATES = [name for name in FEATURE_CATEGORIES if name != "cp_office"]


def study_cohort(n: int, seed: int, year: int) -> pl.DataFrame:
    """One birth cohort: Box 1 columns, groups, Table 8 flags and targets A-E by ages 2 and 5.
    A child has a first finding with probability expit(eta), at an age uniform on 1..7."""
    rng = np.random.default_rng(seed)
    cols = {name: rng.choice(levels, size=n) for name, levels in FEATURE_CATEGORIES.items()}
    benefit = cols["caregiver_time_on_benefit_5y"] == "80-100%"
    eta = (
        -3.6
        + 2.2 * benefit
        + 1.6 * (cols["parent_cp_history_as_child"] == "yes")
        + 1.4 * (cols["other_children_cp_history_5y"] == "yes")
    )
    first_age = np.where(rng.random(n) < expit(eta), rng.integers(1, 8, n), 99)
    extra_notification = np.where(rng.random(n) < 0.06, rng.integers(1, 8, n), 99)
    physical = rng.random(n) < 0.6
    aian = rng.random(n) < 0.25 + 0.3 * benefit
    frame = pl.DataFrame(
        {
            "person_key": [f"k{year}_{i:05d}" for i in range(n)],
            "birth_year": [year] * n,
            **cols,
            "ethnicity_aian": pl.Series(aian).set(pl.Series(rng.random(n) < 0.05), None),
            "on_benefit_by_3_months": benefit | (rng.random(n) < 0.15),
        }
    )
    outcomes = {}
    for age in (1, 2, 3, 4, 5):
        finding = first_age <= age
        outcomes |= {
            f"finding_by_age_{age}": finding,
            f"notification_by_age_{age}": finding | (extra_notification <= age),
            f"investigation_by_age_{age}": finding | (extra_notification <= age - 1),
            f"target_d_by_age_{age}": finding & physical,
            f"target_e_by_age_{age}": finding & physical & (first_age <= 1),
        }
    frame = frame.with_columns(**{k: pl.Series(v) for k, v in outcomes.items()})
    return frame.with_columns(
        (pl.col("other_children_cp_history_5y") == "yes").alias("t8_other_children_cp_history_5y"),
        (pl.col("single_parent") != "no or unknown").alias("t8_single_parent"),
        pl.col("mother_or_caregiver_age").is_in(["<20", "20-24"]).alias("t8_caregiver_under_25"),
        (pl.col("parent_cp_history_as_child") == "yes").alias("t8_parent_cp_history_as_child"),
        pl.col("on_benefit_by_3_months").alias("t8_on_benefit_by_3_months"),
    )


@pytest.fixture(scope="module")
def training() -> pl.DataFrame:
    return study_cohort(6000, seed=2010, year=2010)


@pytest.fixture(scope="module")
def scored() -> pl.DataFrame:
    return study_cohort(4000, seed=2007, year=2007)


@pytest.fixture(scope="module")
def base(training) -> object:
    return fit_sampled_stepwise(training, OUTCOME, np.random.default_rng(3), candidates=CANDIDATES, name="Base model")


def rng_for(name: str) -> np.random.Generator:
    return model_rng(11, name)


def test_the_recipe_is_the_sampling_and_stepwise_fit_done_by_hand(training, base):
    sample = modelling_sample(training, OUTCOME, np.random.default_rng(3))
    model = stepwise_logistic(sample.train, OUTCOME, model_candidates(sample.train, CANDIDATES))
    assert base.model.selected_names == model.selected_names
    assert np.array_equal(base.model.coefficients, model.coefficients)
    assert {"caregiver_time_on_benefit_5y", "parent_cp_history_as_child", "other_children_cp_history_5y"} <= set(
        model.selected_names
    )
    prior = sample.prior_correction()
    expected = delong_auc(sample.validation[OUTCOME].cast(pl.Int64), model.predict_proba(sample.validation, prior))
    assert base.validation_auc.auc == pytest.approx(expected.auc, abs=1e-12)
    # prior correction: the mean predicted risk over the whole cohort is about its prevalence
    assert base.predict_proba(training)[0].mean() == pytest.approx(training[OUTCOME].mean(), rel=0.15)
    summary = base.summary()
    assert (summary["number_in_cohort"], summary["sample_size"]) == (6000, sample.sample_size)


def test_too_few_positives_or_unobserved_outcomes_say_why(training):
    few = pl.concat([training.filter(pl.col(OUTCOME)).head(4), training.filter(~pl.col(OUTCOME)).head(200)])
    with pytest.raises(ModelNotFitted, match=f"too few positives: 4 children with {OUTCOME}"):
        fit_sampled_stepwise(few, OUTCOME, np.random.default_rng(0), candidates=CANDIDATES)
    unobserved = training.with_columns(
        pl.when(pl.col("person_key") == "k2010_00000").then(None).otherwise(pl.col(OUTCOME)).alias(OUTCOME)
    )
    with pytest.raises(ModelNotFitted, match="not yet observed"):
        fit_sampled_stepwise(unobserved, OUTCOME, np.random.default_rng(0), candidates=CANDIDATES)
    with pytest.raises(ModelNotFitted, match="no candidate variable varies"):
        fit_sampled_stepwise(training, OUTCOME, np.random.default_rng(0), candidates=["not_a_column"])


def test_selected_threshold_is_the_whole_percent_nearest_the_prevalence():
    # NZ Table 10 note 4: 2.8% -> 3%, 8.0% -> 8%, 1.1% -> 1%, 0.1% -> 1%; halves round up
    assert [selected_threshold(p) for p in (0.028, 0.080, 0.011, 0.001, 0.025)] == [0.03, 0.08, 0.01, 0.01, 0.03]


def test_table9_refers_each_group_in_proportion_to_its_known_findings(training, scored, base):
    split = TABLE9_SPLITS[0]  # AIAN versus not (missing ethnicity goes with "not")
    table, models, notes = separate_models_table(base, training, scored, rng_for, splits=[split])
    rows = {r["model"]: r for r in table.iter_rows(named=True)}
    n = referred_count(scored.height, NZ_REFERRAL_SHARE)
    y5 = scored["finding_by_age_5"].cast(pl.Int64)
    base_counts = confusion_counts(y5, top_n_flags(base.predict_proba(scored)[0], n, scored["person_key"]))
    assert rows["Base model"]["ppv"] == pytest.approx(base_counts.ppv)
    assert rows["Base model"]["referred"] == n
    # by hand: each group's own model, quotas from findings by age 2, evaluated at age 5
    member_train = training["ethnicity_aian"].fill_null(False).to_numpy()
    member = scored["ethnicity_aian"].fill_null(False).to_numpy()
    score = np.empty(scored.height)
    for inside, label in ((True, "in group"), (False, "not in group")):
        name = f"Table 9: {split.label} ({label})"
        own = fit_sampled_stepwise(
            training.filter(pl.Series(member_train == inside)), OUTCOME, rng_for(name), candidates=base.candidate_names
        )
        assert np.array_equal(own.model.coefficients, models[name].model.coefficients)
        score[member == inside] = own.predict_proba(scored.filter(pl.Series(member == inside)))[0]
    y2 = scored["finding_by_age_2"].to_numpy()
    quotas = allocate_referrals(
        {True: y2[member].sum(), False: y2[~member].sum()}, {True: int(member.sum()), False: int((~member).sum())}, n
    )
    referred = np.zeros(scored.height, dtype=bool)
    for inside in (True, False):
        rows_of = np.flatnonzero(member == inside)
        order = np.lexsort((scored["person_key"].to_numpy()[rows_of], -score[rows_of]))
        referred[rows_of[order[: quotas[inside]]]] = True
    counts = confusion_counts(y5, referred)
    row = rows[split.label]
    assert row["status"] == "fitted" and row["referred_in_group"] == quotas[True]
    assert (row["referred"], row["true_positives"]) == (n, counts.a)
    assert (row["ppv"], row["npv"], row["sensitivity"], row["specificity"]) == pytest.approx(
        (counts.ppv, counts.npv, counts.sensitivity, counts.specificity)
    )
    assert row["positives_in_group"] == int(training.filter(pl.Series(member_train))[OUTCOME].sum())


def test_table9_keeps_a_split_it_cannot_fit_with_the_reason(training, scored, base):
    tiny = GroupSplit("First ten children versus not", "person_key", pl.col("person_key") < "k2010_00010")
    table, models, _ = separate_models_table(base, training, scored, rng_for, splits=[tiny])
    row = table.filter(pl.col("model") == tiny.label).row(0, named=True)
    assert row["status"].startswith("not fitted: in group: too few positives")
    assert row["ppv"] is None and row["positives_not_in_group"] > 0
    assert list(models) == ["Table 9: First ten children versus not (not in group)"]


def test_table10_fits_each_target_on_its_own_cohort(training, scored, base):
    frames = {
        "A": (training, "2010"),
        "B": (training, "2010"),
        "C": (training.head(3000), "2010 (half)"),
        "D": "no birth cohort has target_d_by_age_2 observed for every child",
        "E": (training.head(60), "2010"),
    }
    table, models, _ = alternative_targets_table(base, frames, scored, rng_for, FitSettings())
    rows = {r["target"]: r for r in table.iter_rows(named=True)}
    assert rows["A"]["auc_validation"] == pytest.approx(base.validation_auc.auc)
    assert rows["D"]["status"] == "not fitted: no birth cohort has target_d_by_age_2 observed for every child"
    assert rows["E"]["status"].startswith("not fitted: too few positives")
    assert rows["C"]["number_in_cohort"] == 3000 and rows["C"]["training_cohort"] == "2010 (half)"
    # target B by hand: its own model, the threshold nearest its prevalence, the top N at age 5
    own = fit_sampled_stepwise(
        training, "notification_by_age_2", rng_for("Table 10: target B"), candidates=base.candidate_names
    )
    assert rows["B"]["auc_validation"] == pytest.approx(own.validation_auc.auc)
    score = own.predict_proba(scored)[0]
    share = selected_threshold(training["notification_by_age_2"].mean())
    at_threshold = confusion_at_share(
        scored["notification_by_age_2"].cast(pl.Int64), score, share, scored["person_key"]
    )
    assert rows["B"]["selected_share"] == share
    assert rows["B"]["misclassification_rate"] == pytest.approx(at_threshold.misclassification_rate)
    assert rows["B"]["cumulative_lift"] == pytest.approx(at_threshold.cumulative_lift)
    referred = top_n_flags(score, referred_count(scored.height, NZ_REFERRAL_SHARE), scored["person_key"])
    target = confusion_counts(scored["notification_by_age_5"].cast(pl.Int64), referred)
    finding = confusion_counts(scored["finding_by_age_5"].cast(pl.Int64), referred)
    assert rows["B"]["ppv_target_by_age_5"] == pytest.approx(target.ppv)
    assert rows["B"]["sensitivity_finding_by_age_5"] == pytest.approx(finding.sensitivity)
    assert set(models) == {"Table 10: target B", "Table 10: target C"}


def test_table11_variables_follow_their_agencies():
    variants = {v.column: v for v in TABLE11_VARIANTS}
    assert variants["B"].candidates() == list(FEATURE_CATEGORIES)
    # without births: only-births variables go (the caregiver is compared with the registration parents)
    assert variants["C"].dropped() == ["low_birth_weight_or_preterm", "caregiver_not_registration_parent"]
    assert variants["D"].dropped() == [
        "low_birth_weight_or_preterm",
        "caregiver_not_registration_parent",
        "parent_corrections_5y",
    ]
    with_health = variants["A"].candidates()
    assert not set(BOX2_REPLACES.values()) & set(with_health)
    assert set(BOX2_REPLACES) | {"moh_mother_smoker"} <= set(with_health)
    assert available_from("single_parent", {"benefits"}) and not available_from(
        "moh_family_violence", {"child_protection"}
    )


def test_table11_restricts_the_children_without_births_data(training, scored, base):
    table, models, _ = agency_data_table(base, training, scored, rng_for)
    rows = {r["variant"]: r for r in table.iter_rows(named=True)}
    assert rows["A"]["status"].startswith("not fitted: moh_") and "not in the cohort features" in rows["A"]["status"]
    assert rows["B"]["auc_validation"] == pytest.approx(base.validation_auc.auc)
    on_benefit = training["on_benefit_by_3_months"].sum()
    assert (
        rows["C"]["number_in_cohort"] == on_benefit
        and rows["C"]["scored_children"] == scored["on_benefit_by_3_months"].sum()
    )
    model_c = models["Table 11: C"]
    assert not {"low_birth_weight_or_preterm", "caregiver_not_registration_parent"} & set(model_c.candidate_names)
    # only children on benefit can be referred; sensitivity is over every child with findings (note 4)
    score = np.full(scored.height, -1.0)
    mask = scored["on_benefit_by_3_months"].to_numpy()
    score[mask] = model_c.predict_proba(scored.filter(pl.Series(mask)))[0]
    referred = top_n_flags(score, referred_count(scored.height, NZ_REFERRAL_SHARE), scored["person_key"])
    assert referred[~mask].sum() == 0
    counts = confusion_counts(scored["finding_by_age_5"].cast(pl.Int64), referred)
    assert rows["C"]["sensitivity_finding_by_age_5"] == pytest.approx(counts.sensitivity)
    assert rows["C"]["referred_pct_on_benefit_by_3_months"] == 1.0
    expected_aian = scored.filter(pl.Series(referred))["ethnicity_aian"].drop_nulls().mean()
    assert rows["C"]["referred_pct_aian_child"] == pytest.approx(expected_aian)


def test_figure3_counts_every_model_and_the_split_criteria(training, scored, base):
    _, models9, _ = separate_models_table(base, training, scored, rng_for, splits=[TABLE9_SPLITS[2]])
    models = {"Base model": base, **models9}
    table = figure3_table(models)
    rows = {r["variable"]: r for r in table.iter_rows(named=True)}
    # the benefit split counts on_benefit_by_3_months in both group models (Figure 3 note 1)
    assert (
        rows["on_benefit_by_3_months"]["models_appearing"] == 2
        and rows["on_benefit_by_3_months"]["mean_entry_rank"] is None
    )
    ranks = [m.model.entry_ranks.get("parent_cp_history_as_child") for m in models.values()]
    ranks = [r for r in ranks if r is not None]
    assert rows["parent_cp_history_as_child"]["models_appearing"] == len(ranks)
    assert rows["parent_cp_history_as_child"]["mean_entry_rank"] == pytest.approx(np.mean(ranks))
