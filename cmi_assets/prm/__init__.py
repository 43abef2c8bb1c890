"""Predictive risk modelling, reproducing the method of the NZ MSD 2014 feasibility study.

Plain Python (numpy, polars, scipy; statsmodels and scikit-learn are imported inside the
functions that fit models). The names below load their module on first use, so importing
a light module of this package (settings.py) does not load scipy for the Dagster code
location. The usual flow:

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

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same names, for readers, type checkers and code_versions' import scan
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

_EXPORTS = {
    "AlternativeFitError": "cmi_assets.prm.alternative",
    "AlternativeModel": "cmi_assets.prm.alternative",
    "AucResult": "cmi_assets.prm.evaluation",
    "CalibrationFit": "cmi_assets.prm.evaluation",
    "ConfusionCounts": "cmi_assets.prm.evaluation",
    "FitSettings": "cmi_assets.prm.study",
    "FittedModel": "cmi_assets.prm.study",
    "LogisticScorer": "cmi_assets.prm.scoring",
    "ModelArtefact": "cmi_assets.prm.artefact",
    "ModelNotFitted": "cmi_assets.prm.study",
    "ModellingSample": "cmi_assets.prm.sampling",
    "PriorCorrection": "cmi_assets.prm.prior",
    "StepwiseFitError": "cmi_assets.prm.stepwise",
    "StepwiseModel": "cmi_assets.prm.stepwise",
    "VariableSpec": "cmi_assets.prm.design",
    "agency_data_table": "cmi_assets.prm.study",
    "allocate_referrals": "cmi_assets.prm.proportionality",
    "alternative_targets_table": "cmi_assets.prm.study",
    "auc_table": "cmi_assets.prm.evaluation",
    "base_model_summary": "cmi_assets.prm.evaluation",
    "bootstrap_selection_frequencies": "cmi_assets.prm.selection_frequency",
    "calibration_fit": "cmi_assets.prm.evaluation",
    "calibration_table": "cmi_assets.prm.evaluation",
    "compare_on_validation": "cmi_assets.prm.alternative",
    "composition_table": "cmi_assets.prm.proportionality",
    "confusion_at_share": "cmi_assets.prm.evaluation",
    "confusion_counts": "cmi_assets.prm.evaluation",
    "cumulative_lift_at": "cmi_assets.prm.evaluation",
    "delong_auc": "cmi_assets.prm.evaluation",
    "delong_auc_difference": "cmi_assets.prm.evaluation",
    "design_matrix": "cmi_assets.prm.design",
    "figure3_table": "cmi_assets.prm.study",
    "fit_alternative_model": "cmi_assets.prm.alternative",
    "fit_logit": "cmi_assets.prm.stepwise",
    "fit_sampled_stepwise": "cmi_assets.prm.study",
    "infer_variable_specs": "cmi_assets.prm.design",
    "marker_count_by_score_band": "cmi_assets.prm.proportionality",
    "misclassification_rate_at": "cmi_assets.prm.evaluation",
    "model_card_markdown": "cmi_assets.prm.artefact",
    "model_from_json": "cmi_assets.prm.artefact",
    "model_to_json": "cmi_assets.prm.artefact",
    "modelling_sample": "cmi_assets.prm.sampling",
    "outcomes_at_share_table": "cmi_assets.prm.evaluation",
    "prior_correction_offset": "cmi_assets.prm.prior",
    "referral_order": "cmi_assets.prm.evaluation",
    "referred_count": "cmi_assets.prm.evaluation",
    "selection_across_models": "cmi_assets.prm.selection_frequency",
    "separate_models_accuracy_table": "cmi_assets.prm.proportionality",
    "separate_models_referral": "cmi_assets.prm.proportionality",
    "separate_models_table": "cmi_assets.prm.study",
    "stepwise_logistic": "cmi_assets.prm.stepwise",
    "stratified_split": "cmi_assets.prm.sampling",
    "threshold_table": "cmi_assets.prm.evaluation",
    "top_n_flags": "cmi_assets.prm.evaluation",
    "top_share_flags": "cmi_assets.prm.evaluation",
    "undersample_negatives": "cmi_assets.prm.sampling",
}

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


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
