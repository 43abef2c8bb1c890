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
"""

import base64
import hashlib
import io
import json
import math
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.cohorts.assets import FEATURES_TABLE, OUTCOMES_TABLE, table_exists
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.metadata import frame_table, mapping_table, number, text_list, transposed
from cmi_assets.storage import WAREHOUSE

GROUP = "prm"
OWNERS = ["team:prm-analytics"]
SCHEMA = "prm"
LEVELS = ("conservative", "less_conservative")
MODELS_SUBDIR = ("prm", "models")
REPORTS_SUBDIR = ("reports", "prm")
CURRENT_MODEL_FILE = "current.txt"  # names the artefact prm_scores uses
PREVIOUS_MODEL_FILE = "previous.txt"  # names the artefact the current one replaced (report commentary)
EVALUATION_SUFFIX = ".evaluation.json"  # beside each artefact: what prm_evaluation measured with it
SCORES_TABLE = f"{SCHEMA}.scores"
STUDY_NOTES_TABLE = f"{SCHEMA}.study_notes"  # prm_study_models' notes, for the report
TABLE3_GROUP = "ethnicity_aian"  # Table 3's group (the study's Maori children; as in Table 9)
REFERRAL_SHARE = 0.05  # Figure 1, Tables 6-8: the top 5% of scores
SCORING_AGE = 5  # outcomes to age 5 for the scored cohort (NZ study, Table 2 and Figure 1)
EVALUATION_TABLES = (
    "table1",
    "table2",
    "table3",
    "figure1",
    "table6",
    "table7",
    "table8",
    "figure4",
    "calibration",
    "oracle",
    "model_comparison",
    "selection_frequency",
)
STUDY_TABLES = ("table9", "table10", "table11", "figure3", "figure5")
STUDY_TABLE_KEYS = {"table9": "model", "table10": "target", "table11": "variant"}  # the model each row is
REPORT_TABLES = EVALUATION_TABLES + STUDY_TABLES


DEFAULT_MIN_TRAINING_POSITIVES, DEFAULT_MAX_POOLED_COHORTS = 1000, 6


class PrmModelConfig(dg.Config):
    """Training choices; defaults are the NZ study's (paras 58-62, Figure 3 note 1)."""

    target: str = "A"  # Table 10 target (A = substantiated finding)
    outcome_age: int = 2  # outcomes to this age define the training cohort and the label
    linkage_level: str = "conservative"
    seed: int = 2014
    # Pool earlier complete cohorts until this many children with findings: the study's
    # training cohort had about 1,400 (Table 1: 62,273 children, 2.3%); with a few hundred the
    # validation AUC is too noisy to trust (measured in BENCHMARKS.md, "PRM on the default world").
    min_training_positives: int = DEFAULT_MIN_TRAINING_POSITIVES
    max_pooled_cohorts: int = DEFAULT_MAX_POOLED_COHORTS
    negatives_per_positive: float = 4.0
    train_share: float = 0.7
    alternative_family: str = "elastic_net"  # or gradient_boosting (prm.alternative)
    bootstrap_resamples: int = 20  # refits of the stepwise selection on resamples (Austin and Tu 2004); 0 = none


# The main columns of each evaluation table (`table.column`, as the event tables declare theirs)
EVALUATION_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(name, kind, description=text)
        for name, kind, text in (
            ("table1.auc_validation", "DOUBLE", "validation AUC (written by prm_model)"),
            ("table1.oracle_auc_validation", "DOUBLE", "the oracle's AUC on the same validation children"),
            ("table1.calibration_slope", "DOUBLE", "after prior correction, on the training cohort population"),
            ("table2.threshold", "VARCHAR", "Top 1% .. Top 20%, All"),
            ("table2.ppv", "DOUBLE", None),
            ("table2.sensitivity", "DOUBLE", None),
            ("figure1.age", "VARCHAR", None),
            ("figure1.ppv", "DOUBLE", None),
            ("table6.linkage_level", "VARCHAR", None),
            ("table6.auc", "DOUBLE", "against findings by age 5"),
            ("table7.group", "VARCHAR", None),
            ("table7.share_referred", "DOUBLE", "share of the top 5%"),
            ("table8.label", "VARCHAR", None),
            ("table8.pct_referred", "DOUBLE", None),
            ("figure4.band", "VARCHAR", None),
            ("figure4.share_with_min_markers", "DOUBLE", "5+ of the 11 markers"),
            ("calibration.mean_predicted", "DOUBLE", None),
            ("calibration.observed_rate", "DOUBLE", None),
            ("oracle.children_scored", "VARCHAR", "validation sample or scored cohort"),
            ("oracle.auc_model", "DOUBLE", None),
            ("oracle.auc_oracle", "DOUBLE", None),
            ("oracle.oracle_gap", "DOUBLE", "oracle minus model, same children"),
        )
    ]
)

# --- shared helpers -----------------------------------------------------------------------


def models_dir(storage: StorageResource) -> Path:
    path = storage.storage().data_dir.joinpath(*MODELS_SUBDIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def current_artefact(storage: StorageResource, pointer_file: str = CURRENT_MODEL_FILE):
    """(ModelArtefact, path) of the current model (or of the one named by another pointer
    file, e.g. PREVIOUS_MODEL_FILE), or (None, None)."""
    from cmi_assets.prm import model_from_json

    pointer = models_dir(storage) / pointer_file
    if not pointer.exists():
        return None, None
    path = models_dir(storage) / pointer.read_text(encoding="utf-8").strip()
    if not path.exists():
        return None, None
    return model_from_json(path.read_text(encoding="utf-8")), path


def evaluation_path(storage: StorageResource, version: str) -> Path:
    return models_dir(storage) / f"{version}{EVALUATION_SUFFIX}"


def read_evaluation(storage: StorageResource, version: str) -> dict | None:
    path = evaluation_path(storage, version)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def complete_birth_years(con, outcome: str, linkage_level: str) -> list[int]:
    """Birth years (newest first) whose every child has `outcome` observed."""
    if not table_exists(con, OUTCOMES_TABLE):
        return []
    rows = con.execute(
        f"select birth_year from {OUTCOMES_TABLE} where linkage_level = ? group by 1 "
        f"having count(*) > 0 and count({outcome}) = count(*) order by 1 desc",
        [linkage_level],
    ).fetchall()
    return [int(r[0]) for r in rows]


def cohort_frame(con, linkage_level: str, birth_years: list[int]) -> pl.DataFrame:
    """Features joined to outcomes, one row per child of the given birth years, by person_key."""
    if not birth_years:
        return pl.DataFrame()
    years = ", ".join(str(int(y)) for y in birth_years)
    return con.execute(
        f"select f.*, o.* exclude (person_key, birth_year, linkage_level) from {FEATURES_TABLE} f "
        f"join {OUTCOMES_TABLE} o using (person_key, birth_year, linkage_level) "
        f"where f.linkage_level = ? and f.birth_year in ({years}) order by f.birth_year, f.person_key",
        [linkage_level],
    ).pl()


def align_to_training_levels(frame: pl.DataFrame, variables) -> tuple[pl.DataFrame, int]:
    """prm.study.align_to_training_levels (imported when called: the library loads scipy)."""
    from cmi_assets.prm.study import align_to_training_levels as align

    return align(frame, variables)


def finite_or_none(value):
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def notes_markdown(notes: list[str]) -> str:
    return "\n".join(f"- {note}" for note in notes) if notes else "- none"


def write_table(con, table: str, frame: pl.DataFrame) -> int:
    """Create or replace a table of the analysis zone's prm schema from a frame."""
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register("_prm_frame", frame.to_arrow())
    try:
        con.execute(f"create or replace table {table} as select * from _prm_frame")
    finally:
        con.unregister("_prm_frame")
    return frame.height


def read_table(con, table: str) -> pl.DataFrame:
    return con.execute(f"select * from {table}").pl() if table_exists(con, table) else pl.DataFrame()


# --- prm_model -----------------------------------------------------------------------------


def training_cohorts(
    con, outcome: str, linkage_level: str, min_positives: int, max_pooled: int
) -> tuple[list[int], list[str]]:
    """The newest complete cohort, plus earlier complete cohorts while positives are too few."""
    years = complete_birth_years(con, outcome, linkage_level)
    if not years:
        return [], [f"no birth cohort has {outcome} observed for every child"]
    positives = dict(
        con.execute(
            f"select birth_year, sum({outcome}::int) from {OUTCOMES_TABLE} where linkage_level = ? group by 1",
            [linkage_level],
        ).fetchall()
    )
    chosen = [years[0]]
    while sum(positives.get(y) or 0 for y in chosen) < min_positives and len(chosen) < min(max_pooled, len(years)):
        chosen.append(years[len(chosen)])
    notes = []
    if len(chosen) > 1:
        notes.append(
            f"cohort {years[0]} has {positives.get(years[0]) or 0} children with {outcome} (< {min_positives}): "
            f"pooled cohorts {min(chosen)}-{max(chosen)} for training"
        )
    return sorted(chosen), notes


def fit_prm(frame: pl.DataFrame, outcome: str, config: PrmModelConfig, oracle: pl.DataFrame | None = None) -> dict:
    """Sample, fit the stepwise model (prm.study.fit_sampled_stepwise, the NZ recipe) and the
    second family, evaluate on the validation set, set the oracle's AUC beside the model's
    on the same validation children (`oracle`: person_key and the outcome's true risk) and
    measure calibration after prior correction on the whole training cohort population.
    Returns a dict with the model pieces, or with an `error` note."""
    from cmi_assets.prm import (
        base_model_summary,
        bootstrap_selection_frequencies,
        calibration_fit,
        compare_on_validation,
        fit_alternative_model,
    )
    from cmi_assets.prm.oracle import oracle_column, oracle_comparison
    from cmi_assets.prm.study import FitSettings, ModelNotFitted, fit_sampled_stepwise
    from cmi_assets.synthetic.profile import component_rng

    settings = FitSettings(negatives_per_positive=config.negatives_per_positive, train_share=config.train_share)
    try:
        fitted = fit_sampled_stepwise(frame, outcome, component_rng(config.seed, "prm_sampling"), settings)
    except ModelNotFitted as error:
        return {"error": f"{error}; no model fitted"}
    model, sample, prior, scorer = fitted.model, fitted.sample, fitted.prior, fitted.scorer
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
            comparison = oracle_comparison(sample.validation["person_key"], val_y, val_score, oracle, risk)
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
            component_rng(config.seed, "prm_alternative"),
            family=config.alternative_family,
            prior_correction=prior,
        )
        if table1 is not None:
            # the second family uses every candidate: align the validation set to all of them
            both, _ = align_to_training_levels(sample.validation, alternative.variables)
            comparison = compare_on_validation(
                both, outcome, {"stepwise": scorer, config.alternative_family: alternative}
            )
    except Exception as error:  # noqa: BLE001 - sklearn raises many kinds on tiny folds; the note says which
        notes.append(f"second model family {config.alternative_family} not fitted ({type(error).__name__}: {error})")
    frequencies = None
    if config.bootstrap_resamples > 0:
        try:
            frequencies = bootstrap_selection_frequencies(
                sample.train,
                outcome,
                model_candidates(sample.train),
                component_rng(config.seed, "prm_bootstrap"),
                config.bootstrap_resamples,
            )
        except Exception as error:  # noqa: BLE001 - a tiny sample can defeat every resample; the note says how
            notes.append(f"bootstrap selection frequencies not computed ({type(error).__name__}: {error})")
    return {
        "model": model,
        "sample": sample,
        "prior": prior,
        "scorer": scorer,
        "table1": table1,
        "comparison": comparison,
        "notes": notes,
        "population_score": population_score,
        "frequencies": frequencies,
    }


STOP_REASONS = {
    "cycling": (
        "the next entry or removal would give back a model already fitted, so selection stops there "
        "(SAS PROC LOGISTIC stops stepwise selection the same way)"
    ),
}


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


def tables_listed(names) -> dg.MetadataValue:
    """The tables an asset wrote, on one line in the report's order (Table 2 before Table 10)."""
    from cmi_assets.prm.report import in_report_order

    return dg.MetadataValue.text(", ".join(in_report_order(names)))


def model_candidates(frame: pl.DataFrame) -> list[str]:
    """prm.study.model_candidates: the Box 1 variables present, complete and varying."""
    from cmi_assets.prm.study import model_candidates as candidates

    return candidates(frame)


def snapshot_id(frame: pl.DataFrame, outcome: str) -> str:
    """A content hash of the training data (children, cohort and label): same data, same id."""
    digest = hashlib.sha256()
    for key, year, label in frame.select("person_key", "birth_year", outcome).sort("person_key").iter_rows():
        digest.update(f"{key}|{year}|{label}\n".encode())
    return digest.hexdigest()[:16]


@dg.asset(
    name="prm_model",
    deps=["cohort_features", "cohort_outcomes", "prm_oracle_risk"],
    group_name=GROUP,
    kinds={"python", "duckdb", "json"},
    owners=OWNERS,
    description=(
        "The predictive risk model of the NZ study (paras 58-62): SAS-style stepwise logistic regression of "
        "substantiated findings by age 2 on the Box 1 variables, trained on the newest birth cohort with outcomes to "
        "age 2 at the conservative linkage (earlier cohorts pooled when positives are too few), with negatives "
        "under-sampled 4:1, a 70/30 split and King-Zeng prior correction; a second model family compared on the same "
        "validation set; where a synthetic truth exists, the oracle's AUC on the same validation children. Calibration "
        "slope and intercept after prior correction are measured on the whole training cohort population. Artefact: "
        "$CMI_DATA_DIR/prm/models/<sha12>.json; the model card is in the metadata."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
)
def prm_model(
    context: dg.AssetExecutionContext, config: PrmModelConfig, storage: StorageResource
) -> dg.MaterializeResult:
    from cmi_assets.cohorts import outcome_column
    from cmi_assets.defs.prm.oracle import read_oracle
    from cmi_assets.prm import model_card_markdown, model_to_json, threshold_table
    from cmi_assets.prm.oracle import oracle_column

    outcome = outcome_column(config.target, config.outcome_age)
    risk = oracle_column(outcome)
    with storage.warehouse() as con:
        years, notes = training_cohorts(
            con, outcome, config.linkage_level, config.min_training_positives, config.max_pooled_cohorts
        )
        frame = cohort_frame(con, config.linkage_level, years)
        oracle = read_oracle(con, config.linkage_level, risk) if risk else None
    result = (
        fit_prm(frame, outcome, config, oracle) if years else {"error": notes.pop() if notes else "no complete cohort"}
    )
    notes += result.get("notes", [])
    metadata: dict = {
        "outcome": outcome,
        "linkage_level": config.linkage_level,
        "training_birth_years": text_list(years),
        "training_children": frame.height,
    }
    if "error" in result:
        notes.append(result["error"])
        previous, path = current_artefact(storage)
        notes.append(f"the current model stays {path.name}" if previous else "there is no current model")
        context.log.warning(f"prm_model: {result['error']}")
        metadata.update(status="no new model", notes=dg.MetadataValue.md(notes_markdown(notes)))
        return dg.MaterializeResult(metadata=metadata)

    model, sample, table1 = result["model"], result["sample"], result["table1"]
    validation_metrics = {k: finite_or_none(v) for k, v in (table1 or {}).items()}
    label = f"{min(years)}" if len(years) == 1 else f"{min(years)}-{max(years)}"
    json_text, sha = model_to_json(
        model,
        {
            "training_cohort": label,
            "linkage_level": config.linkage_level,
            "data_snapshot_id": snapshot_id(frame, outcome),
            "sample_sizes": sample.sizes(),
            "validation_metrics": validation_metrics,
            "training_birth_years": years,
            "seed": config.seed,
            "notes": notes,
            # what prm_study_models needs to refit this model and its variants the same way
            "target": config.target,
            "outcome_age": config.outcome_age,
            "negatives_per_positive": config.negatives_per_positive,
            "train_share": config.train_share,
            "min_training_positives": config.min_training_positives,
            "max_pooled_cohorts": config.max_pooled_cohorts,
        },
        result["prior"],
    )
    path = models_dir(storage) / f"{sha[:12]}.json"
    path.write_text(json_text, encoding="utf-8")
    _, replaced = current_artefact(storage)
    if replaced is not None and replaced.name != path.name:  # the report compares the two
        (models_dir(storage) / PREVIOUS_MODEL_FILE).write_text(replaced.name, encoding="utf-8")
    (models_dir(storage) / CURRENT_MODEL_FILE).write_text(path.name, encoding="utf-8")
    thresholds = threshold_table(frame[outcome].cast(pl.Int64), result["population_score"], tie_key=frame["person_key"])
    context.log.info(f"prm model {sha[:12]}: {len(model.selected_names)} variables, trained on cohorts {label}")
    # Headline first (the UI shows metadata in insertion order): validation AUC with its
    # DeLong interval, as rounded numbers (Metadata > Plots charts them across models).
    headline = {
        name: number(validation_metrics[key])
        for key, name in (
            ("auc_validation", "validation_auc"),
            ("auc_ci_low", "validation_auc_ci_low"),
            ("auc_ci_high", "validation_auc_ci_high"),
            ("oracle_auc_validation", "oracle_auc_validation"),
            ("oracle_gap_validation", "oracle_gap_validation"),
            ("calibration_slope", "calibration_slope"),
            ("calibration_intercept", "calibration_intercept"),
        )
        if validation_metrics.get(key) is not None
    }
    metadata = {
        "summary": dg.MetadataValue.md(model_headline(validation_metrics, label, len(model.selected_names))),
        **headline,
        **metadata,
        "status": "new model",
        "sha256": sha,
        "artefact": dg.MetadataValue.path(str(path)),
        "selected_variables": text_list(model.selected_names),
        "stop_reason": stop_reason_text(model.stop_reason),
        "sample_sizes": mapping_table(sample.sizes(), "sample", "children"),
        "model_card": dg.MetadataValue.md(model_card_markdown(json_text, thresholds)),
        "table1": transposed({label: validation_metrics}) if table1 else "no validation AUC",
        "model_comparison": frame_table(result["comparison"])
        if result["comparison"] is not None
        else "not compared (see notes)",
        "selection_frequency": frame_table(result["frequencies"], digits=2)
        if result["frequencies"] is not None
        else "no bootstrap (bootstrap_resamples = 0)",
        "notes": dg.MetadataValue.md(notes_markdown(notes)),
    }
    with storage.warehouse() as con:
        write_table(
            con,
            f"{SCHEMA}.table1",
            pl.DataFrame(
                [
                    {
                        "model_sha12": sha[:12],
                        "training_cohort": label,
                        "linkage_level": config.linkage_level,
                        **validation_metrics,
                    }
                ]
            ),
        )
        comparison = (
            result["comparison"] if result["comparison"] is not None else pl.DataFrame({"model_sha12": [sha[:12]]})
        )
        write_table(con, f"{SCHEMA}.model_comparison", comparison)
        frequencies = (
            result["frequencies"]
            if result["frequencies"] is not None
            else pl.DataFrame({"variable": []}, schema={"variable": pl.String})
        )
        write_table(
            con, f"{SCHEMA}.selection_frequency", frequencies.with_columns(pl.lit(sha[:12]).alias("model_sha12"))
        )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(sha[:12]))


# --- prm_scores ----------------------------------------------------------------------------


def scoring_birth_year(con, training_years: list[int], outcome: str) -> tuple[int | None, list[str]]:
    """The newest cohort with `outcome` observed for every child that is older than every
    training cohort (the NZ study scored earlier cohorts to see outcomes to age 5)."""
    years = complete_birth_years(con, outcome, "conservative")
    earlier = [y for y in years if not training_years or y < min(training_years)]
    if earlier:
        return earlier[0], []
    if years:
        return years[0], [
            f"no cohort older than the training cohorts has {outcome} for every child: scored cohort "
            f"{years[0]}, which overlaps training (optimistic)"
        ]
    return None, [f"no cohort has {outcome} observed for every child: nothing scored"]


@dg.asset(
    name="prm_scores",
    deps=["prm_model", "cohort_features", "cohort_outcomes"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    owners=OWNERS,
    description=(
        "The current PRM scores of an earlier birth cohort with outcomes to age 5, at both linkage levels (NZ study "
        "section 4 and Table 6): one row per child with the prior-corrected probability and referral rank "
        "(1 = highest; ties by person_key). Analysis zone, prm.scores."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata={
        "dagster/table_name": f"{WAREHOUSE}.{SCORES_TABLE}",
        "zone": WAREHOUSE,
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("person_key", "VARCHAR", description="pseudonymous child key"),
                dg.TableColumn("birth_year", "INTEGER"),
                dg.TableColumn("linkage_level", "VARCHAR"),
                dg.TableColumn("score", "DOUBLE", description="prior-corrected probability of a finding by age 2"),
                dg.TableColumn("score_rank", "BIGINT", description="1 = highest; ties by person_key"),
                dg.TableColumn("model_sha12", "VARCHAR", description="the model artefact's version"),
            ]
        ),
    },
)
def prm_scores(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.cohorts import outcome_column
    from cmi_assets.prm import referral_order

    artefact, path = current_artefact(storage)
    if artefact is None:
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": 0,
                "status": "no model",
                "notes": dg.MetadataValue.md(
                    notes_markdown(["prm_model has not produced a model yet (see its notes): nothing scored"])
                ),
            }
        )
    training_years = [int(y) for y in artefact.document["metadata"].get("training_birth_years", [])]
    frames, rows, notes = [], [], []
    with storage.warehouse() as con:
        year, notes = scoring_birth_year(con, training_years, outcome_column("A", SCORING_AGE))
        for level in LEVELS if year is not None else ():
            frame = cohort_frame(con, level, [year])
            if not frame.height:
                notes.append(f"cohort {year} has no children at the {level} level")
                continue
            aligned, unseen = align_to_training_levels(frame, artefact.scorer.variables)
            if unseen:
                notes.append(f"{level}: {unseen} values of levels absent from training scored as the reference level")
            score = artefact.predict_proba(aligned)
            rank = np.empty(len(score), dtype=np.int64)
            rank[referral_order(score, frame["person_key"])] = np.arange(1, len(score) + 1)
            frames.append(
                frame.select("person_key", "birth_year", "linkage_level").with_columns(
                    pl.Series("score", score),
                    pl.Series("score_rank", rank),
                    pl.lit(artefact.version).alias("model_sha12"),
                )
            )
            rows.append(
                {
                    "linkage_level": level,
                    "children": frame.height,
                    "mean_score": float(np.mean(score)),
                    "max_score": float(np.max(score)),
                }
            )
        scores = (
            pl.concat(frames)
            if frames
            else pl.DataFrame(
                schema={
                    "person_key": pl.String,
                    "birth_year": pl.Int32,
                    "linkage_level": pl.String,
                    "score": pl.Float64,
                    "score_rank": pl.Int64,
                    "model_sha12": pl.String,
                }
            )
        )
        written = write_table(con, SCORES_TABLE, scores)
    context.log.info(f"prm_scores: cohort {year}, {written} scores with model {artefact.version}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "status": "scored" if written else "nothing scored",
            "scored_birth_year": year if year is not None else -1,
            "model_sha12": artefact.version,
            "model_artefact": dg.MetadataValue.path(str(path)),
            "scores_by_level": frame_table(pl.DataFrame(rows)) if rows else "none",
            "notes": dg.MetadataValue.md(notes_markdown(notes)),
        }
    )


# --- prm_evaluation ------------------------------------------------------------------------


def group_columns(frame: pl.DataFrame) -> list[str]:
    """Table 7 groups: ethnic groups, benefit and registration by 3 months, high deprivation."""
    return [c for c in frame.columns if c.startswith("ethnicity_")] + [
        c for c in ("on_benefit_by_3_months", "registered_by_3_months", "high_deprivation") if c in frame.columns
    ]


def evaluate_level(frame: pl.DataFrame, level: str, notes: list[str]) -> dict[str, pl.DataFrame]:
    """Every study table for one linkage level's scored cohort (frame: features, outcomes, score)."""
    from cmi_assets.cohorts import RISK_MARKERS, table8_profile
    from cmi_assets.prm import (
        calibration_fit,
        calibration_table,
        composition_table,
        confusion_at_share,
        delong_auc,
        marker_count_by_score_band,
        outcomes_at_share_table,
        threshold_table,
        top_share_flags,
    )

    tag = pl.lit(level).alias("linkage_level")
    y5 = frame["finding_by_age_5"].cast(pl.Int64)
    y2 = frame["finding_by_age_2"].cast(pl.Int64)
    score, key = frame["score"].to_numpy(), frame["person_key"]
    referred = top_share_flags(score, REFERRAL_SHARE, key)
    out = {
        "table2": threshold_table(y5, score, events=frame["n_finding_events_by_age_5"], tie_key=key),
        "figure1": outcomes_at_share_table(
            {age: frame[f"finding_by_age_{age}"].cast(pl.Int64) for age in range(1, 6)}, score, REFERRAL_SHARE, key
        ).rename({"outcome": "age"}),
        "table7": composition_table(frame, group_columns(frame), "finding_by_age_5", referred),
        "table8": table8_profile(frame, frame, "finding_by_age_2", referred=referred),
        "figure4": marker_count_by_score_band(
            frame.with_columns(pl.col(list(RISK_MARKERS)).fill_null(False)), list(RISK_MARKERS), score, tie_key=key
        ),
        "calibration": calibration_table(y2, score, n_bins=min(10, len(score))),
    }
    if TABLE3_GROUP in frame.columns and frame[TABLE3_GROUP].fill_null(False).any():
        # Table 3: the same thresholds (set on every child) seen from one group's children
        out["table3"] = threshold_table(
            y5,
            score,
            events=frame["n_finding_events_by_age_5"],
            tie_key=key,
            group=frame[TABLE3_GROUP].fill_null(False),
        ).with_columns(pl.lit(TABLE3_GROUP).alias("group"))
    else:
        notes.append(f"{level}: no child of group {TABLE3_GROUP} in the scored cohort: no Table 3")
    counts = confusion_at_share(y5, score, REFERRAL_SHARE, key)
    row = {
        "children": frame.height,
        "prevalence_by_age_5": float(y5.mean()),
        "share_referred": REFERRAL_SHARE,
        "referred": counts.referred,
        **counts.rates(),
        "auc": None,
        "auc_ci_low": None,
        "auc_ci_high": None,
    }
    if 0 < y5.sum() < len(y5):
        auc = delong_auc(y5, score)
        row.update(auc=auc.auc, auc_ci_low=auc.ci_low, auc_ci_high=auc.ci_high)
    else:
        notes.append(f"{level}: findings by age 5 take one value only in the scored cohort: no AUC")
    out["table6"] = pl.DataFrame([{k: finite_or_none(v) for k, v in row.items()}])
    if 0 < y2.sum() < len(y2):
        try:
            fit = calibration_fit(y2, score).to_dict()
            out["calibration"] = out["calibration"].with_columns(
                pl.lit(fit["slope"]).alias("calibration_slope"), pl.lit(fit["intercept"]).alias("calibration_intercept")
            )
        except Exception as error:  # noqa: BLE001 - a tiny cohort can separate perfectly
            notes.append(f"{level}: calibration slope not estimated ({type(error).__name__})")
    return {name: table.with_columns(tag) for name, table in out.items()}


def figure1_chart(figure1: pl.DataFrame) -> str:
    """PPV and sensitivity by age at the top 5% (conservative), as a base64 PNG in markdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = figure1.filter(pl.col("linkage_level") == "conservative")
    figure, axis = plt.subplots(figsize=(5, 3))
    for column, colour in (("ppv", "#2a7ab9"), ("sensitivity", "#c0392b")):
        axis.plot(
            data["age"].to_list(),
            [100 * (v if v is not None else float("nan")) for v in data[column].to_list()],
            marker="o",
            color=colour,
            label=column.upper() if column == "ppv" else column,
        )
    axis.set_xlabel("findings by age")
    axis.set_ylabel("% (top 5% of scores)")
    axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return f"![Figure 1](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')})"


def oracle_note(has_oracle: bool, outcome: str = "finding_by_age_2") -> str:
    """Why an oracle AUC is missing: no oracle risk at all, or none for this outcome."""
    from cmi_assets.prm.oracle import oracle_column

    if oracle_column(outcome) is None:
        return f"oracle AUC not computed: the synthetic truth holds no true probability of {outcome}"
    if not has_oracle:
        return (
            "oracle AUC not computed: prm.oracle_risk is empty (no synthetic truth in this deployment, or "
            "prm_oracle_risk has not run)"
        )
    return "oracle AUC not computed"


def oracle_rows(con, frame: pl.DataFrame, level: str, year: int) -> list[dict]:
    """The model's and the oracle's AUC on the same scored children, for findings by age 2
    and by age 5 (NZ Table 6 uses age 5)."""
    from cmi_assets.defs.prm.oracle import read_oracle
    from cmi_assets.prm.oracle import ORACLE_COLUMNS, oracle_comparison

    rows = []
    for risk, outcome in ORACLE_COLUMNS.items():
        oracle = read_oracle(con, level, risk)
        if not oracle.height:
            continue
        measured = oracle_comparison(
            frame["person_key"], frame[outcome].cast(pl.Int64).to_numpy(), frame["score"].to_numpy(), oracle, risk
        )
        rows.append(
            {
                "linkage_level": level,
                "children_scored": f"cohort {year}",
                "outcome": outcome,
                **{k: finite_or_none(v) for k, v in measured.items()},
            }
        )
    return rows


def validation_oracle_row(table1: pl.DataFrame) -> list[dict]:
    """prm_model's oracle comparison on the validation children, as an oracle-table row."""
    if not table1.height or "oracle_auc_validation" not in table1.columns or table1["oracle_auc_validation"][0] is None:
        return []
    row = table1.row(0, named=True)
    every_child = row.get("auc_validation_with_oracle") is None  # the model's interval is over the same children
    return [
        {
            "linkage_level": row["linkage_level"],
            "children_scored": f"validation sample (cohort {row['training_cohort']})",
            "outcome": "training outcome",
            "auc_model": row["auc_validation"] if every_child else row["auc_validation_with_oracle"],
            "auc_model_ci_low": row.get("auc_ci_low") if every_child else None,
            "auc_model_ci_high": row.get("auc_ci_high") if every_child else None,
            "auc_oracle": row["oracle_auc_validation"],
            "auc_oracle_ci_low": row.get("oracle_ci_low"),
            "auc_oracle_ci_high": row.get("oracle_ci_high"),
            "oracle_gap": row.get("oracle_gap_validation"),
            "oracle_coverage": row.get("oracle_coverage_validation"),
        }
    ]


def evaluation_summary(combined: dict[str, pl.DataFrame], scores: pl.DataFrame) -> dict:
    """What the report's commentary compares between models (conservative linkage, top 5%)."""
    summary: dict = {"share_referred": REFERRAL_SHARE}
    conservative = scores.filter(pl.col("linkage_level") == "conservative") if scores.height else scores
    if conservative.height:
        summary.update(model_sha12=conservative["model_sha12"][0], scored_birth_year=int(conservative["birth_year"][0]))
    if "table6" in combined:
        rows = combined["table6"].filter(pl.col("linkage_level") == "conservative")
        if rows.height:
            row = rows.row(0, named=True)
            summary.update(ppv=row["ppv"], sensitivity=row["sensitivity"], auc=row["auc"])
    if "oracle" in combined:
        rows = combined["oracle"].filter(
            (pl.col("linkage_level") == "conservative") & (pl.col("outcome") == "finding_by_age_5")
        )
        if rows.height:
            summary["oracle_auc"] = rows["auc_oracle"][0]
    if "table7" in combined:
        top = combined["table7"].filter(pl.col("linkage_level") == "conservative")
        summary["top_share_by_group"] = {
            g: finite_or_none(v) for g, v in zip(top["group"].to_list(), top["share_referred"].to_list())
        }
    return {k: finite_or_none(v) if not isinstance(v, dict) else v for k, v in summary.items()}


@dg.asset(
    name="prm_evaluation",
    deps=["prm_scores", "prm_model", "prm_oracle_risk"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    owners=OWNERS,
    description=(
        "The NZ study's evaluation of the scored cohort: Table 1 (base model), Table 2 (top 1-20%), Figure 1 (PPV "
        "and sensitivity by age 1-5 at the top 5%), Table 6 (conservative vs less conservative linkage), Tables 7 and "
        "8 (composition of the top 5%), Figure 4 (risk markers by score band), calibration, and the oracle's AUC beside "
        "the model's on the same children where a synthetic truth exists. Analysis zone, schema prm (one table each, "
        "with a linkage_level column); markdown in the metadata; a summary beside the model artefact for the report's "
        "commentary."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata={
        "dagster/table_name": f"{WAREHOUSE}.{SCHEMA}.*",
        "zone": WAREHOUSE,
        "dagster/column_schema": EVALUATION_SCHEMA,
    },
)
def prm_evaluation(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    notes: list[str] = []
    tables: dict[str, list[pl.DataFrame]] = {}
    oracle: list[dict] = []
    with storage.warehouse() as con:
        scores = read_table(con, SCORES_TABLE)
        for level in LEVELS:
            level_scores = scores.filter(pl.col("linkage_level") == level) if scores.height else scores
            if not level_scores.height:
                notes.append(f"{level}: no scores (see prm_scores)")
                continue
            year = int(level_scores["birth_year"][0])
            frame = cohort_frame(con, level, [year]).join(
                level_scores.select("person_key", "score"), on="person_key", how="inner"
            )
            frame = frame.sort("person_key")
            for name, table in evaluate_level(frame, level, notes).items():
                tables.setdefault(name, []).append(table)
            oracle.extend(oracle_rows(con, frame, level, year))
        table1 = read_table(con, f"{SCHEMA}.table1")
        oracle = validation_oracle_row(table1) + oracle
        if oracle:
            tables["oracle"] = [pl.DataFrame(oracle, infer_schema_length=None)]
        else:
            con.execute(f"drop table if exists {SCHEMA}.oracle")  # no stale oracle from an earlier deployment state
            notes.append(oracle_note(False))
        combined = {name: pl.concat(parts, how="diagonal_relaxed") for name, parts in tables.items()}
        for name, table in combined.items():
            write_table(con, f"{SCHEMA}.{name}", table)
    summary = evaluation_summary(combined, scores)
    if summary.get("model_sha12"):
        evaluation_path(storage, summary["model_sha12"]).write_text(
            json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8"
        )
    from cmi_assets.prm.report import headline_markdown, headline_numbers

    numbers = headline_numbers({**combined, **({"table1": table1} if table1.height else {})})
    metadata: dict = {
        "summary": dg.MetadataValue.md(headline_markdown(numbers)),
        **{k: number(v) for k, v in numbers.items() if isinstance(v, float)},
        "dagster/row_count": sum(t.height for t in combined.values()),
        "tables": tables_listed([*combined, *(["table1"] if table1.height else [])]),
    }
    if table1.height:
        metadata["table1"] = transposed(
            {
                r["linkage_level"]: {k: v for k, v in r.items() if k != "linkage_level"}
                for r in table1.iter_rows(named=True)
            }
        )
    if "oracle" in combined:
        metadata["oracle"] = frame_table(combined["oracle"], digits=3)
        scored = combined["oracle"].filter(
            (pl.col("linkage_level") == "conservative") & (pl.col("outcome") == "finding_by_age_5")
        )
        if scored.height and scored["auc_oracle"][0] is not None:
            metadata["oracle_auc_scored_cohort"] = number(float(scored["auc_oracle"][0]))
            metadata["model_auc_scored_cohort"] = number(float(scored["auc_model"][0]))
    for name in ("table2", "table3", "figure1", "table6", "table7", "table8", "figure4", "calibration"):
        if name in combined:
            table = (
                combined[name].filter(pl.col("linkage_level") == "conservative")
                if name not in ("table6",)
                else combined[name]
            )
            metadata[name] = frame_table(table.drop("label") if name == "table8" else table, digits=3)
    if "figure1" in combined:
        metadata["figure1_chart"] = dg.MetadataValue.md(figure1_chart(combined["figure1"]))
    if "table7" in combined:
        top = combined["table7"].filter(pl.col("linkage_level") == "conservative")
        metadata["top_share_by_group"] = mapping_table(
            {g: finite_or_none(s) for g, s in zip(top["group"].to_list(), top["share_referred"].to_list())},
            "group",
            "share of the top 5%",
        )
    metadata["notes"] = dg.MetadataValue.md(notes_markdown(notes))
    context.log.info(f"prm_evaluation: {len(combined)} tables")
    return dg.MaterializeResult(metadata=metadata)


# --- feasibility_report --------------------------------------------------------------------


@dg.asset(
    name="feasibility_report",
    deps=["prm_evaluation", "prm_model", "prm_study_models"],
    group_name=GROUP,
    kinds={"html", "markdown"},
    owners=OWNERS,
    description=(
        "The PRM feasibility report: what changed since the previous model, the NZ study's tables and figures rebuilt "
        "on our cohorts (Tables 1-2, 6-11, Figures 1 and 3-5, calibration, oracle), the model card and every note on "
        "what could not be computed, as markdown and self-contained HTML under $CMI_DATA_DIR/reports/prm/."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
)
def feasibility_report(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.prm import model_card_markdown
    from cmi_assets.prm.report import (
        change_commentary,
        feasibility_sections,
        headline_markdown,
        headline_numbers,
        model_summary,
        report_html,
        report_markdown,
        transpose_for_display,
    )

    artefact, path = current_artefact(storage)
    with storage.warehouse() as con:
        tables = {name: read_table(con, f"{SCHEMA}.{name}") for name in REPORT_TABLES}
        study_notes = read_table(con, STUDY_NOTES_TABLE)
    tables = {name: table for name, table in tables.items() if table.height}
    if "table8" in tables:
        tables["table8"] = tables["table8"].drop("row")
    for name, key in STUDY_TABLE_KEYS.items():  # the study's layout: one column per model
        if name in tables:
            tables[name] = transpose_for_display(tables[name], key)
    notes = [] if artefact else ["no PRM model yet: prm_model found too few positives or no complete cohort"]
    commentary: list[str] = []
    if artefact:
        notes += list(artefact.document["metadata"].get("notes", []))
        previous, _ = current_artefact(storage, PREVIOUS_MODEL_FILE)
        current_summary = model_summary(artefact.document, artefact.version, read_evaluation(storage, artefact.version))
        previous_summary = (
            model_summary(previous.document, previous.version, read_evaluation(storage, previous.version))
            if previous is not None and previous.version != artefact.version
            else None
        )
        commentary = change_commentary(current_summary, previous_summary)
    if study_notes.height:
        notes += study_notes["note"].to_list()
    if "oracle" not in tables:
        notes.append(oracle_note(False))
    card = model_card_markdown(path.read_text(encoding="utf-8")) if artefact else None
    title = f"PRM feasibility report ({'model ' + artefact.version if artefact else 'no model'})"
    numbers = headline_numbers(tables)
    sections = feasibility_sections(
        tables, notes=notes, model_card=card, commentary=commentary, headline=headline_markdown(numbers)
    )
    markdown, page = report_markdown(title, sections), report_html(title, sections)
    out_dir = storage.storage().data_dir.joinpath(*REPORTS_SUBDIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"feasibility_{artefact.version}" if artefact else "feasibility_no_model"
    (out_dir / f"{stem}.md").write_text(markdown, encoding="utf-8")
    (out_dir / f"{stem}.html").write_text(page, encoding="utf-8")
    (out_dir / "latest.md").write_text(markdown, encoding="utf-8")
    (out_dir / "latest.html").write_text(page, encoding="utf-8")
    context.log.info(f"feasibility report {stem} with {len(tables)} tables")
    # Headline first (the UI shows metadata in insertion order): the findings, as rounded
    # numbers, before the files and tables they come from.
    return dg.MaterializeResult(
        metadata={
            "summary": dg.MetadataValue.md(headline_markdown(numbers)),
            **{k: number(v) for k, v in numbers.items() if isinstance(v, float)},
            "model": artefact.version if artefact else "no model",
            "what_changed": dg.MetadataValue.md(notes_markdown(commentary) if commentary else "no model"),
            "report_html": dg.MetadataValue.path(str(out_dir / f"{stem}.html")),
            "report_markdown": dg.MetadataValue.path(str(out_dir / f"{stem}.md")),
            "tables": tables_listed(tables),
            "report": dg.MetadataValue.md(markdown),
        }
    )


PRM_ASSETS = [prm_model, prm_scores, prm_evaluation, feasibility_report]
