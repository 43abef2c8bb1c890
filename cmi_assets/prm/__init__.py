"""Predictive risk modelling, reproducing the method of the NZ MSD 2014 feasibility study.

Plain Python (numpy, polars, scipy; statsmodels and scikit-learn are imported inside the
functions that fit models, so importing this package stays cheap for the Dagster code
location). The usual flow:

    sample = modelling_sample(population, "finding_by_age_2", rng)          # sampling.py
    model = stepwise_logistic(sample.train, "finding_by_age_2", candidates)  # stepwise.py
    scorer = model.scorer(sample.prior_correction())                         # prior.py
    delong_auc(sample.validation[outcome], scorer.predict_proba(sample.validation))
    threshold_table(population[outcome], scorer.predict_proba(population))   # evaluation.py
    json_text, sha256 = model_to_json(model, metadata, sample.prior_correction())

The study's further models (Tables 9-11, Figure 3) reuse the same recipe:

    fitted = fit_sampled_stepwise(population, "finding_by_age_2", rng)        # study.py
    table9, models, notes = separate_models_table(fitted, population, scored, rng_for)

Modules: design (predictor coding), sampling, stepwise, prior, scoring, alternative,
evaluation, proportionality, selection_frequency, study, oracle (the synthetic truth's risk
by person_key), artefact, report.
"""

from cmi_assets.prm.alternative import (
    AlternativeFitError,
    AlternativeModel,
    compare_on_validation,
    fit_alternative_model,
)
from cmi_assets.prm.artefact import ModelArtefact, model_card_markdown, model_from_json, model_to_json
from cmi_assets.prm.design import VariableSpec, design_matrix, infer_variable_specs
from cmi_assets.prm.evaluation import (
    AucResult,
    CalibrationFit,
    ConfusionCounts,
    auc_table,
    base_model_summary,
    calibration_fit,
    calibration_table,
    confusion_at_share,
    confusion_counts,
    cumulative_lift_at,
    delong_auc,
    delong_auc_difference,
    misclassification_rate_at,
    outcomes_at_share_table,
    referral_order,
    referred_count,
    threshold_table,
    top_n_flags,
    top_share_flags,
)
from cmi_assets.prm.prior import PriorCorrection, prior_correction_offset
from cmi_assets.prm.proportionality import (
    allocate_referrals,
    composition_table,
    marker_count_by_score_band,
    separate_models_accuracy_table,
    separate_models_referral,
)
from cmi_assets.prm.sampling import ModellingSample, modelling_sample, stratified_split, undersample_negatives
from cmi_assets.prm.scoring import LogisticScorer
from cmi_assets.prm.selection_frequency import bootstrap_selection_frequencies, selection_across_models
from cmi_assets.prm.stepwise import StepwiseFitError, StepwiseModel, fit_logit, stepwise_logistic
from cmi_assets.prm.study import (
    FitSettings,
    FittedModel,
    ModelNotFitted,
    agency_data_table,
    alternative_targets_table,
    figure3_table,
    fit_sampled_stepwise,
    separate_models_table,
)

__all__ = [
    "AlternativeFitError",
    "AlternativeModel",
    "AucResult",
    "CalibrationFit",
    "ConfusionCounts",
    "FitSettings",
    "FittedModel",
    "LogisticScorer",
    "ModelArtefact",
    "ModelNotFitted",
    "ModellingSample",
    "PriorCorrection",
    "StepwiseFitError",
    "StepwiseModel",
    "VariableSpec",
    "agency_data_table",
    "allocate_referrals",
    "alternative_targets_table",
    "auc_table",
    "base_model_summary",
    "bootstrap_selection_frequencies",
    "calibration_fit",
    "calibration_table",
    "compare_on_validation",
    "composition_table",
    "confusion_at_share",
    "confusion_counts",
    "cumulative_lift_at",
    "delong_auc",
    "delong_auc_difference",
    "design_matrix",
    "fit_alternative_model",
    "figure3_table",
    "fit_logit",
    "fit_sampled_stepwise",
    "infer_variable_specs",
    "marker_count_by_score_band",
    "misclassification_rate_at",
    "model_card_markdown",
    "model_from_json",
    "model_to_json",
    "modelling_sample",
    "outcomes_at_share_table",
    "prior_correction_offset",
    "referral_order",
    "referred_count",
    "selection_across_models",
    "separate_models_accuracy_table",
    "separate_models_referral",
    "separate_models_table",
    "stepwise_logistic",
    "stratified_split",
    "threshold_table",
    "top_n_flags",
    "top_share_flags",
    "undersample_negatives",
]
