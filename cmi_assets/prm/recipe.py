"""The base model of the NZ study as one call: sample, fit the stepwise model (study.py, paras
58-62), fit a second model family on the same sample, evaluate on the validation children,
set the oracle's AUC beside the model's and measure calibration after prior correction on
the whole training cohort population. Plus what prm_model writes beside it: the artefact's
metadata, the data snapshot id and the headline line."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from cmi_assets.prm.alternative import compare_on_validation, fit_alternative_model
from cmi_assets.prm.evaluation import base_model_summary, calibration_fit
from cmi_assets.prm.oracle import oracle_column, oracle_comparison
from cmi_assets.prm.oracle_table import oracle_note
from cmi_assets.prm.prior import PriorCorrection
from cmi_assets.prm.sampling import ModellingSample
from cmi_assets.prm.scoring import LogisticScorer
from cmi_assets.prm.selection_frequency import bootstrap_selection_frequencies
from cmi_assets.prm.settings import PrmSettings
from cmi_assets.prm.stepwise import StepwiseModel
from cmi_assets.prm.study import (
    FitSettings,
    ModelNotFitted,
    align_to_training_levels,
    fit_sampled_stepwise,
    model_candidates,
)
from cmi_assets.reference.random_streams import component_rng

STOP_REASONS = {
    "cycling": (
        "the next entry or removal would give back a model already fitted, so selection stops there "
        "(SAS PROC LOGISTIC stops stepwise selection the same way)"
    ),
}


@dataclass(frozen=True)
class PrmFit:
    """What fit_prm produced: the model and its sample, and what was measured with them.
    `table1` is None when there is no validation AUC; `comparison` and `frequencies` are None
    when the second family or the bootstrap could not be computed (the notes say why)."""

    model: StepwiseModel
    sample: ModellingSample
    prior: PriorCorrection
    scorer: LogisticScorer
    table1: dict | None
    comparison: pl.DataFrame | None
    notes: list[str]
    population_score: np.ndarray
    frequencies: pl.DataFrame | None


def finite_or_none(value):
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def notes_markdown(notes: list[str]) -> str:
    return "\n".join(f"- {note}" for note in notes) if notes else "- none"


def _oracle_columns(table1: dict, notes: list[str], comparison: dict) -> None:
    table1.update(
        oracle_auc_validation=comparison["auc_oracle"],
        oracle_ci_low=comparison.get("auc_oracle_ci_low"),
        oracle_ci_high=comparison.get("auc_oracle_ci_high"),
        oracle_gap_validation=comparison["oracle_gap"],
        oracle_coverage_validation=comparison["oracle_coverage"],
    )
    if comparison["oracle_coverage"] is not None and comparison["oracle_coverage"] < 1:
        table1["auc_validation_with_oracle"] = comparison["auc_model"]
        notes.append(
            f"{comparison['children'] - comparison['children_with_oracle']} validation children have no "
            "oracle risk (no truth child behind their person_key): the oracle and model AUCs beside it "
            "are on the other children (auc_validation_with_oracle)"
        )


def fit_prm(
    frame: pl.DataFrame, outcome: str, settings: PrmSettings, oracle: pl.DataFrame | None = None
) -> PrmFit | str:
    """Sample, fit the stepwise model (prm.study.fit_sampled_stepwise, the NZ recipe) and the
    second family, evaluate on the validation set, set the oracle's AUC beside the model's
    on the same validation children (`oracle`: person_key and the outcome's true risk) and
    measure calibration after prior correction on the whole training cohort population.
    Returns the fit, or the note saying why no model was fitted."""
    fit_settings = FitSettings(negatives_per_positive=settings.negatives_per_positive, train_share=settings.train_share)
    try:
        fitted = fit_sampled_stepwise(frame, outcome, component_rng(settings.seed, "prm_sampling"), fit_settings)
    except ModelNotFitted as error:
        return f"{error}; no model fitted"
    sample, prior, scorer = fitted.sample, fitted.prior, fitted.scorer
    notes = list(fitted.notes)
    population_score, unseen = fitted.predict_proba(frame)
    if unseen:
        notes.append(f"{unseen} cohort values of levels absent from the training sample scored as the reference level")
    population_y = frame[outcome].cast(pl.Int64)
    val_y, val_score = fitted.validation_scores()
    table1 = None
    if fitted.validation_auc is not None:
        table1 = base_model_summary(
            population_y, population_score, val_y, val_score, sample.sample_size, tie_key=frame["person_key"]
        )
        risk = oracle_column(outcome)
        if risk is None or oracle is None or not oracle.height:
            notes.append(oracle_note(oracle is not None and oracle.height > 0, outcome))
        else:
            _oracle_columns(
                table1, notes, oracle_comparison(sample.validation["person_key"], val_y, val_score, oracle, risk)
            )
        try:  # on the whole training cohort population (every child of the training birth years)
            fit = calibration_fit(population_y, population_score)
            table1.update(
                calibration_slope=fit.slope,
                calibration_intercept=fit.intercept,
                calibration_in_the_large=fit.calibration_in_the_large,
            )
        except Exception as error:  # noqa: BLE001 - a tiny cohort can separate perfectly
            notes.append(f"calibration slope not estimated ({type(error).__name__})")
    comparison = None
    try:
        alternative = fit_alternative_model(
            sample.train,
            outcome,
            model_candidates(sample.train),
            component_rng(settings.seed, "prm_alternative"),
            family=settings.alternative_family,
            prior_correction=prior,
        )
        if table1 is not None:
            # the second family uses every candidate: align the validation set to all of them
            both, _ = align_to_training_levels(sample.validation, alternative.variables)
            comparison = compare_on_validation(
                both, outcome, {"stepwise": scorer, settings.alternative_family: alternative}
            )
    except Exception as error:  # noqa: BLE001 - sklearn raises many kinds on tiny folds; the note says which
        notes.append(f"second model family {settings.alternative_family} not fitted ({type(error).__name__}: {error})")
    frequencies = None
    if settings.bootstrap_resamples > 0:
        try:
            frequencies = bootstrap_selection_frequencies(
                sample.train,
                outcome,
                model_candidates(sample.train),
                component_rng(settings.seed, "prm_bootstrap"),
                settings.bootstrap_resamples,
            )
        except Exception as error:  # noqa: BLE001 - a tiny sample can defeat every resample; the note says how
            notes.append(f"bootstrap selection frequencies not computed ({type(error).__name__}: {error})")
    return PrmFit(
        model=fitted.model,
        sample=sample,
        prior=prior,
        scorer=scorer,
        table1=table1,
        comparison=comparison,
        notes=notes,
        population_score=population_score,
        frequencies=frequencies,
    )


def stop_reason_text(reason: str) -> str:
    """The stepwise stop reason with what it means where it is not plain."""
    for word, meaning in STOP_REASONS.items():
        if f"({word})" in reason:
            return f"{reason}: {meaning}"
    return reason


def model_headline(metrics: dict, cohorts: str, variables: int) -> str:
    """One line for the top of prm_model: validation AUC with its 95% interval."""
    auc, low, high = (metrics.get(k) for k in ("auc_validation", "auc_ci_low", "auc_ci_high"))
    if auc is None:
        return f"No validation AUC (trained on cohort(s) {cohorts}, {variables} variables)."
    interval = f" (95% CI {low:.3f}-{high:.3f})" if low is not None and high is not None else ""
    return f"**Validation AUC {auc:.3f}**{interval}; trained on cohort(s) {cohorts}, {variables} variables selected."


def snapshot_id(frame: pl.DataFrame, outcome: str) -> str:
    """A content hash of the training data (children, cohort and label): same data, same id."""
    digest = hashlib.sha256()
    for key, year, label in frame.select("person_key", "birth_year", outcome).sort("person_key").iter_rows():
        digest.update(f"{key}|{year}|{label}\n".encode())
    return digest.hexdigest()[:16]


def artefact_metadata(
    settings: PrmSettings, frame: pl.DataFrame, outcome: str, fit: PrmFit, years: list[int], label: str, notes
) -> dict:
    """The artefact's metadata: what the model was trained on, how, and what
    prm_study_models needs to refit this model and its variants the same way."""
    return {
        "training_cohort": label,
        "linkage_level": settings.linkage_level,
        "data_snapshot_id": snapshot_id(frame, outcome),
        "sample_sizes": fit.sample.sizes(),
        "validation_metrics": validation_metrics(fit),
        "training_birth_years": years,
        "seed": settings.seed,
        "notes": notes,
        "target": settings.target,
        "outcome_age": settings.outcome_age,
        "negatives_per_positive": settings.negatives_per_positive,
        "train_share": settings.train_share,
        "min_training_positives": settings.min_training_positives,
        "max_pooled_cohorts": settings.max_pooled_cohorts,
    }


def validation_metrics(fit: PrmFit) -> dict:
    return {k: finite_or_none(v) for k, v in (fit.table1 or {}).items()}


HEADLINE_METRICS = (  # (table1 key, metadata name): the validation AUC with its DeLong interval first
    ("auc_validation", "validation_auc"),
    ("auc_ci_low", "validation_auc_ci_low"),
    ("auc_ci_high", "validation_auc_ci_high"),
    ("oracle_auc_validation", "oracle_auc_validation"),
    ("oracle_gap_validation", "oracle_gap_validation"),
    ("calibration_slope", "calibration_slope"),
    ("calibration_intercept", "calibration_intercept"),
)


def headline_metrics(metrics: dict) -> dict:
    """The measured headline numbers, by metadata name, in the order the UI shows them."""
    return {name: metrics[key] for key, name in HEADLINE_METRICS if metrics.get(key) is not None}
