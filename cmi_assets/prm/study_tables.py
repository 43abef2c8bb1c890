"""The study's further models for the current artefact: Tables 9-11 and Figure 3, each model
fitted like the base model (same training cohorts, linkage level, seed and sampling
settings) and evaluated on the scored cohort; Figure 5 from the event tables. study.py does
the fitting; this module reads the cohorts and the artefact's settings."""

from __future__ import annotations

import numpy as np
import polars as pl

from cmi_assets.cohorts import first_observations, observed_by_week, outcome_column
from cmi_assets.prm.artefact import ModelArtefact
from cmi_assets.prm.cohort_data import CohortTables, cohort_label
from cmi_assets.prm.settings import DEFAULT_MAX_POOLED_COHORTS, DEFAULT_MIN_TRAINING_POSITIVES, SCORING_AGE
from cmi_assets.prm.study import (
    FitSettings,
    ModelNotFitted,
    agency_data_table,
    alternative_targets_table,
    figure3_table,
    fit_sampled_stepwise,
    separate_models_table,
)
from cmi_assets.reference.random_streams import component_rng, model_rng

FIGURE5_LEVEL = "less_conservative"  # NZ para 152: the best estimate of the number of unique children
FIGURE5_MAX_WEEKS = 26


def base_and_settings(artefact: ModelArtefact):
    """(outcome, linkage level, training years, seed, FitSettings, min positives, max pooled)
    of the current model, from its artefact."""

    doc, meta = artefact.document, artefact.document["metadata"]
    settings = FitSettings(
        negatives_per_positive=float(meta.get("negatives_per_positive", 4.0)),
        train_share=float(meta.get("train_share", 0.7)),
    )
    return (
        doc["outcome"],
        doc["linkage_level"],
        [int(y) for y in meta.get("training_birth_years", [])],
        int(meta.get("seed", 2014)),
        settings,
        int(meta.get("min_training_positives", DEFAULT_MIN_TRAINING_POSITIVES)),
        int(meta.get("max_pooled_cohorts", DEFAULT_MAX_POOLED_COHORTS)),
    )


def figure5_table(con, birth_year: int, linkage_level: str = FIGURE5_LEVEL) -> pl.DataFrame:
    """NZ Figure 5 for one cohort: percent observed by week since birth, of every child of the
    birth year seen in birth registration or benefit data (cohorts.first_observations: the
    population table keeps only those seen by 13 weeks, so it is read from the event tables)."""

    seen = first_observations(con, birth_year, linkage_level)
    return observed_by_week(seen, FIGURE5_MAX_WEEKS).with_columns(
        pl.lit(birth_year).alias("birth_year"),
        pl.lit(linkage_level).alias("linkage_level"),
        pl.lit(seen.height).alias("children"),
    )


def fit_study_tables(
    con, cohorts: CohortTables, artefact: ModelArtefact, notes: list[str]
) -> tuple[dict[str, pl.DataFrame], dict]:
    """Tables 9-11 and Figure 3 for the current model (the library does the fitting)."""
    outcome, level, years, seed, settings, min_positives, max_pooled = base_and_settings(artefact)
    training = cohorts.frame(con, level, years)
    try:  # the same data, seed and stream as prm_model: the same model
        base = fit_sampled_stepwise(training, outcome, component_rng(seed, "prm_sampling"), settings, name="Base model")
    except ModelNotFitted as error:
        notes.append(f"the base model could not be refitted from cohorts {years} ({error}): Tables 9-11 not computed")
        return {}, {}
    if base.scorer.column_names != artefact.scorer.column_names or not np.allclose(
        base.scorer.coefficients, artefact.scorer.coefficients, rtol=1e-8, atol=1e-10
    ):
        notes.append(
            f"the cohort data changed since model {artefact.version} was trained: the study tables use the "
            "model refitted on today's data"
        )
    year, more = cohorts.scoring_birth_year(con, years, outcome_column("A", SCORING_AGE))
    notes += more
    scored = cohorts.frame(con, level, [year]) if year is not None else None
    rng_for = lambda name: model_rng(seed, name)  # noqa: E731 - one stream per named model
    table9, models9, notes9 = separate_models_table(base, training, scored, rng_for, settings)
    by_target = cohorts.training_by_target(con, level, min_positives, max_pooled)
    table10, models10, notes10 = alternative_targets_table(base, by_target, scored, rng_for, settings)
    table11, models11, notes11 = agency_data_table(base, training, scored, rng_for, settings)
    notes += notes9 + notes10 + notes11
    models = {"Base model": base, **models9, **models10, **models11}
    label = cohort_label(years)
    tag = [pl.lit(artefact.version).alias("model_sha12"), pl.lit(year).cast(pl.Int32).alias("scored_birth_year")]
    base_cohort = pl.lit(label).alias("training_cohort")  # Table 10 rows carry their own training cohorts
    tables = {
        "table9": table9.with_columns(*tag, base_cohort),
        "table10": table10.with_columns(tag),
        "table11": table11.with_columns(*tag, base_cohort),
        "figure3": figure3_table(models).with_columns(pl.lit(len(models)).alias("models_fitted")),
    }
    return tables, {"models": list(models), "scored_birth_year": year}
