"""The PRM feasibility study as assets (prm/ is the library; report.py builds the report):

  cohort_features + cohort_outcomes (cohorts schema, every birth year)
  prm_oracle_risk (oracle.py: the synthetic truth's risk by person_key, when there is a truth)
    -> prm_model          stepwise logistic model on the newest cohort with outcomes to age 2
                          (NZ study paras 58-62: under-sampling, 70/30 split, prior correction),
                          artefact $CMI_DATA_DIR/prm/models/<sha12>.json, a second model family,
                          the oracle's AUC on the same validation children, calibration
    -> prm_scores         an earlier cohort with outcomes to age 5 scored, both linkage levels (prm.scores)
    -> prm_evaluation     Tables 1, 2, 6, 7, 8, Figures 1 and 4, calibration, oracle (schema prm)
    -> prm_study_models   Tables 9, 10, 11, Figures 3 and 5 (study.py)
    -> feasibility_report HTML + markdown under $CMI_DATA_DIR/reports/prm/, opening with what
                          changed since the previous model

Small cohorts (tests, small synthetic worlds) have few children with findings: when the
newest complete cohort has fewer than `min_training_positives`, earlier complete cohorts are
pooled, and when even that is too few the asset succeeds with a 'too few positives' note and
no new model (the previous model, if any, stays current). Every step downstream says what it
could not compute instead of failing. Metadata carries rates and counts, never a person_key.

The fitting modules (registry, recipe, cohort_evaluation, feasibility, study_tables: scipy,
and statsmodels or scikit-learn when they fit) are imported inside the assets that use them,
so they do not load with the code location.
"""

import dagster as dg
import polars as pl

from cmi_assets.cohorts import outcome_column
from cmi_assets.defs.cohorts.assets import FEATURES_TABLE, OUTCOMES_TABLE
from cmi_assets.defs.prm.preset import prm_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.metadata import frame_table, mapping_table, number, table_metadata, text_list, transposed
from cmi_assets.prm.charts import figure1_chart
from cmi_assets.prm.cohort_data import CohortTables, cohort_label
from cmi_assets.prm.oracle import oracle_column
from cmi_assets.prm.oracle_table import oracle_note, read_oracle
from cmi_assets.prm.report import headline_markdown, headline_numbers, in_report_order
from cmi_assets.prm.settings import LEVELS, SCORING_AGE, PrmSettings
from cmi_assets.prm.tables import (
    EVALUATION_COLUMNS,
    REPORT_TABLES,
    SCHEMA,
    SCORES_COLUMNS,
    SCORES_TABLE,
    STUDY_NOTES_TABLE,
)
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import read_table, replace_table

REPORTS_SUBDIR = ("reports", "prm")
COHORTS = CohortTables(features=FEATURES_TABLE, outcomes=OUTCOMES_TABLE)
DEFAULTS = PrmSettings()


class PrmModelConfig(dg.Config):
    """Training choices; defaults are the NZ study's (paras 58-62, Figure 3 note 1; prm.settings)."""

    target: str = DEFAULTS.target
    outcome_age: int = DEFAULTS.outcome_age
    linkage_level: str = DEFAULTS.linkage_level
    seed: int = DEFAULTS.seed
    min_training_positives: int = DEFAULTS.min_training_positives
    max_pooled_cohorts: int = DEFAULTS.max_pooled_cohorts
    negatives_per_positive: float = DEFAULTS.negatives_per_positive
    train_share: float = DEFAULTS.train_share
    alternative_family: str = DEFAULTS.alternative_family
    bootstrap_resamples: int = DEFAULTS.bootstrap_resamples

    def settings(self) -> PrmSettings:
        return PrmSettings(**self.model_dump())


def registry(storage: StorageResource):
    from cmi_assets.prm.registry import ModelRegistry

    return ModelRegistry(storage.storage().data_dir)


def tables_listed(names) -> dg.MetadataValue:
    """The tables an asset wrote, on one line in the report's order (Table 2 before Table 10)."""
    return dg.MetadataValue.text(", ".join(in_report_order(names)))


def notes_md(notes: list[str]) -> dg.MetadataValue:
    from cmi_assets.prm.recipe import notes_markdown

    return dg.MetadataValue.md(notes_markdown(notes))


@prm_asset(
    deps=["cohort_features", "cohort_outcomes", "prm_oracle_risk"],
    kinds={"python", "duckdb", "json"},
)
def prm_model(
    context: dg.AssetExecutionContext, config: PrmModelConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """The predictive risk model of the NZ study (paras 58-62): SAS-style stepwise logistic regression of
    substantiated findings by age 2 on the Box 1 variables, trained on the newest birth cohort with outcomes
    to age 2 at the conservative linkage (earlier cohorts pooled when positives are too few), with negatives
    under-sampled 4:1, a 70/30 split and King-Zeng prior correction; a second model family compared on the
    same validation set; where a synthetic truth exists, the oracle's AUC on the same validation children.
    Calibration slope and intercept after prior correction are measured on the whole training cohort
    population. Artefact: $CMI_DATA_DIR/prm/models/<sha12>.json; the model card is in the metadata."""
    from cmi_assets.prm.artefact import model_card_markdown, model_to_json
    from cmi_assets.prm.evaluation import threshold_table
    from cmi_assets.prm.recipe import (
        artefact_metadata,
        fit_prm,
        headline_metrics,
        model_headline,
        stop_reason_text,
        validation_metrics,
    )

    settings, models = config.settings(), registry(storage)
    outcome = outcome_column(settings.target, settings.outcome_age)
    risk = oracle_column(outcome)
    with storage.warehouse() as con:
        years, notes = COHORTS.training_cohorts(
            con, outcome, settings.linkage_level, settings.min_training_positives, settings.max_pooled_cohorts
        )
        frame = COHORTS.frame(con, settings.linkage_level, years)
        oracle = read_oracle(con, settings.linkage_level, risk) if risk else None
    result = fit_prm(frame, outcome, settings, oracle) if years else (notes.pop() if notes else "no complete cohort")
    metadata: dict = {
        "outcome": outcome,
        "linkage_level": settings.linkage_level,
        "training_birth_years": text_list(years),
        "training_children": frame.height,
    }
    if isinstance(result, str):  # no model fitted: the note says why
        notes.append(result)
        previous, path = models.current()
        notes.append(f"the current model stays {path.name}" if previous else "there is no current model")
        context.log.warning(f"prm_model: {result}")
        metadata.update(status="no new model", notes=notes_md(notes))
        return dg.MaterializeResult(metadata=metadata)

    notes += result.notes
    model, sample, metrics, label = result.model, result.sample, validation_metrics(result), cohort_label(years)
    json_text, sha = model_to_json(
        model, artefact_metadata(settings, frame, outcome, result, years, label, notes), result.prior
    )
    path = models.register(json_text, sha)
    thresholds = threshold_table(frame[outcome].cast(pl.Int64), result.population_score, tie_key=frame["person_key"])
    context.log.info(f"prm model {sha[:12]}: {len(model.selected_names)} variables, trained on cohorts {label}")
    # Headline first (the UI shows metadata in insertion order): validation AUC with its
    # DeLong interval, as rounded numbers (Metadata > Plots charts them across models).
    headline = {name: number(value) for name, value in headline_metrics(metrics).items()}
    comparison, frequencies = result.comparison, result.frequencies
    metadata = {
        "summary": dg.MetadataValue.md(model_headline(metrics, label, len(model.selected_names))),
        **headline,
        **metadata,
        "status": "new model",
        "sha256": sha,
        "artefact": dg.MetadataValue.path(str(path)),
        "selected_variables": text_list(model.selected_names),
        "stop_reason": stop_reason_text(model.stop_reason),
        "sample_sizes": mapping_table(sample.sizes(), "sample", "children"),
        "model_card": dg.MetadataValue.md(model_card_markdown(json_text, thresholds)),
        "table1": transposed({label: metrics}) if result.table1 else "no validation AUC",
        "model_comparison": frame_table(comparison) if comparison is not None else "not compared (see notes)",
        "selection_frequency": frame_table(frequencies, digits=2)
        if frequencies is not None
        else "no bootstrap (bootstrap_resamples = 0)",
        "notes": notes_md(notes),
    }
    version = pl.lit(sha[:12]).alias("model_sha12")
    with storage.warehouse() as con:
        table1 = {"model_sha12": sha[:12], "training_cohort": label, "linkage_level": settings.linkage_level}
        replace_table(con, f"{SCHEMA}.table1", pl.DataFrame([{**table1, **metrics}]))
        replace_table(
            con,
            f"{SCHEMA}.model_comparison",
            comparison if comparison is not None else pl.DataFrame({"model_sha12": [sha[:12]]}),
        )
        if frequencies is None:
            frequencies = pl.DataFrame({"variable": []}, schema={"variable": pl.String})
        replace_table(con, f"{SCHEMA}.selection_frequency", frequencies.with_columns(version))
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(sha[:12]))


@prm_asset(
    deps=["prm_model", "cohort_features", "cohort_outcomes"],
    kinds={"python", "duckdb"},
    metadata=table_metadata(WAREHOUSE, SCORES_TABLE, SCORES_COLUMNS),
)
def prm_scores(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The current PRM scores of an earlier birth cohort with outcomes to age 5, at both linkage levels (NZ
    study section 4 and Table 6): one row per child with the prior-corrected probability and referral rank
    (1 = highest; ties by person_key). Analysis zone, prm.scores."""
    from cmi_assets.prm.cohort_evaluation import SCORES_SCHEMA, score_cohort

    artefact, path = registry(storage).current()
    if artefact is None:
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": 0,
                "status": "no model",
                "notes": notes_md(["prm_model has not produced a model yet (see its notes): nothing scored"]),
            }
        )
    training_years = [int(y) for y in artefact.document["metadata"].get("training_birth_years", [])]
    frames, rows = [], []
    with storage.warehouse() as con:
        year, notes = COHORTS.scoring_birth_year(con, training_years, outcome_column("A", SCORING_AGE))
        for level in LEVELS if year is not None else ():
            frame = COHORTS.frame(con, level, [year])
            if not frame.height:
                notes.append(f"cohort {year} has no children at the {level} level")
                continue
            scores, row, unseen = score_cohort(artefact, frame)
            if unseen:
                notes.append(f"{level}: {unseen} values of levels absent from training scored as the reference level")
            frames.append(scores)
            rows.append(row)
        written = replace_table(con, SCORES_TABLE, pl.concat(frames) if frames else pl.DataFrame(schema=SCORES_SCHEMA))
    context.log.info(f"prm_scores: cohort {year}, {written} scores with model {artefact.version}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "status": "scored" if written else "nothing scored",
            "scored_birth_year": year if year is not None else -1,
            "model_sha12": artefact.version,
            "model_artefact": dg.MetadataValue.path(str(path)),
            "scores_by_level": frame_table(pl.DataFrame(rows)) if rows else "none",
            "notes": notes_md(notes),
        }
    )


@prm_asset(
    deps=["prm_scores", "prm_model", "prm_oracle_risk"],
    kinds={"python", "duckdb"},
    metadata=table_metadata(WAREHOUSE, f"{SCHEMA}.*", EVALUATION_COLUMNS),
)
def prm_evaluation(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The NZ study's evaluation of the scored cohort: Table 1 (base model), Table 2 (top 1-20%), Figure 1
    (PPV and sensitivity by age 1-5 at the top 5%), Table 6 (conservative vs less conservative linkage),
    Tables 7 and 8 (composition of the top 5%), Figure 4 (risk markers by score band), calibration, and the
    oracle's AUC beside the model's on the same children where a synthetic truth exists. Analysis zone, schema
    prm (one table each, with a linkage_level column); markdown in the metadata; a summary beside the model
    artefact for the report's commentary."""
    from cmi_assets.prm.cohort_evaluation import (
        evaluate_scored_cohorts,
        evaluation_summary,
        scored_cohort_oracle,
        shown_tables,
        table1_by_level,
    )

    notes: list[str] = []
    with storage.warehouse() as con:
        scores, table1 = read_table(con, SCORES_TABLE), read_table(con, f"{SCHEMA}.table1")
        combined = evaluate_scored_cohorts(con, COHORTS, scores, table1, notes)
        if "oracle" not in combined:
            con.execute(f"drop table if exists {SCHEMA}.oracle")  # no stale oracle from an earlier deployment state
            notes.append(oracle_note(False))
        for name, table in combined.items():
            replace_table(con, f"{SCHEMA}.{name}", table)
    summary = evaluation_summary(combined, scores)
    if summary.get("model_sha12"):
        registry(storage).write_evaluation(summary["model_sha12"], summary)
    numbers = headline_numbers({**combined, **({"table1": table1} if table1.height else {})})
    metadata: dict = {
        "summary": dg.MetadataValue.md(headline_markdown(numbers)),
        **{k: number(v) for k, v in numbers.items() if isinstance(v, float)},
        "dagster/row_count": sum(t.height for t in combined.values()),
        "tables": tables_listed([*combined, *(["table1"] if table1.height else [])]),
    }
    if table1.height:
        metadata["table1"] = transposed(table1_by_level(table1))
    if "oracle" in combined:
        metadata["oracle"] = frame_table(combined["oracle"], digits=3)
        if (aucs := scored_cohort_oracle(combined)) is not None:
            metadata["oracle_auc_scored_cohort"], metadata["model_auc_scored_cohort"] = (number(a) for a in aucs)
    for name, table in shown_tables(combined).items():
        metadata[name] = frame_table(table, digits=3)
    if "figure1" in combined:
        metadata["figure1_chart"] = dg.MetadataValue.md(figure1_chart(combined["figure1"]))
    if "top_share_by_group" in summary:
        metadata["top_share_by_group"] = mapping_table(summary["top_share_by_group"], "group", "share of the top 5%")
    metadata["notes"] = notes_md(notes)
    context.log.info(f"prm_evaluation: {len(combined)} tables")
    return dg.MaterializeResult(metadata=metadata)


@prm_asset(
    deps=["prm_evaluation", "prm_model", "prm_study_models"],
    kinds={"html", "markdown"},
)
def feasibility_report(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The PRM feasibility report: what changed since the previous model, the NZ study's tables and figures
    rebuilt on our cohorts (Tables 1-2, 6-11, Figures 1 and 3-5, calibration, oracle), the model card and
    every note on what could not be computed, as markdown and self-contained HTML under
    $CMI_DATA_DIR/reports/prm/."""
    from cmi_assets.prm.feasibility import feasibility_report as build_report
    from cmi_assets.prm.recipe import notes_markdown

    with storage.warehouse() as con:
        tables = {name: read_table(con, f"{SCHEMA}.{name}") for name in REPORT_TABLES}
        study_notes = read_table(con, STUDY_NOTES_TABLE)
    report = build_report(tables, study_notes["note"].to_list() if study_notes.height else [], registry(storage))
    html_path, markdown_path = report.write(storage.storage().data_dir.joinpath(*REPORTS_SUBDIR))
    context.log.info(f"feasibility report {report.stem} with {len(report.tables)} tables")
    # Headline first (the UI shows metadata in insertion order): the findings, as rounded
    # numbers, before the files and tables they come from.
    return dg.MaterializeResult(
        metadata={
            "summary": dg.MetadataValue.md(headline_markdown(report.numbers)),
            **{k: number(v) for k, v in report.numbers.items() if isinstance(v, float)},
            "model": report.version or "no model",
            "what_changed": dg.MetadataValue.md(notes_markdown(report.commentary) if report.commentary else "no model"),
            "report_html": dg.MetadataValue.path(str(html_path)),
            "report_markdown": dg.MetadataValue.path(str(markdown_path)),
            "tables": tables_listed(report.tables),
            "report": dg.MetadataValue.md(report.markdown),
        }
    )


PRM_ASSETS = [prm_model, prm_scores, prm_evaluation, feasibility_report]
