"""The study's further models as one asset (prm/study.py is the library):

  prm_model + prm_scores + cohort tables
    -> prm_study_models   Table 9 (separate models per group), Table 10 (targets A-E),
                          Table 11 (agency data drawn on), Figure 3 (variables across every
                          model fitted here), Figure 5 (children observed by weeks since birth)

Every model is fitted like the base model, with the current artefact's training cohorts,
linkage level, seed and sampling settings, and evaluated on the cohort prm_scores scores.
The base model is refitted from the same data and seed (so it equals the artefact; a note
says so if the data changed since prm_model ran). Small cohorts: a model that cannot be
fitted keeps its row with the reason; the asset never fails for want of positives.
"""

import base64
import io

import dagster as dg
import polars as pl

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.cohorts.assets import OUTCOMES_TABLE
from cmi_assets.defs.prm.assets import (
    DEFAULT_MAX_POOLED_COHORTS,
    DEFAULT_MIN_TRAINING_POSITIVES,
    GROUP,
    OWNERS,
    SCHEMA,
    SCORING_AGE,
    STUDY_NOTES_TABLE,
    STUDY_TABLE_KEYS,
    STUDY_TABLES,
    cohort_frame,
    current_artefact,
    notes_markdown,
    scoring_birth_year,
    tables_listed,
    training_cohorts,
    write_table,
)
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.metadata import frame_table, number
from cmi_assets.metadata import table as metadata_table
from cmi_assets.storage import WAREHOUSE

FIGURE5_LEVEL = "less_conservative"  # NZ para 152: the best estimate of the number of unique children
FIGURE5_MAX_WEEKS = 26
# The main columns of each table (`table.column`, as the event tables declare theirs); Tables
# 9-11 add the measures of prm/study.py (validation AUC, threshold and top-5% measures).
STUDY_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(name, kind, description=text)
        for name, kind, text in (
            ("table9.model", "VARCHAR", "Base model, or the split whose group models are combined"),
            ("table9.status", "VARCHAR", "fitted, or not fitted and why"),
            ("table9.ppv", "DOUBLE", "top 5% of the scored cohort against findings by age 5"),
            ("table9.sensitivity", "DOUBLE", None),
            ("table9.specificity", "DOUBLE", None),
            ("table9.npv", "DOUBLE", None),
            ("table10.target", "VARCHAR", "A-E (cohorts.TARGETS)"),
            ("table10.status", "VARCHAR", None),
            ("table10.auc_validation", "DOUBLE", None),
            ("table10.selected_share", "DOUBLE", "threshold nearest the prevalence"),
            ("table10.ppv_target_by_age_5", "DOUBLE", None),
            ("table10.ppv_finding_by_age_5", "DOUBLE", None),
            ("table11.variant", "VARCHAR", "A health added, B base, C without births, D also without corrections"),
            ("table11.sources", "VARCHAR", "agencies drawn on"),
            ("table11.status", "VARCHAR", None),
            ("table11.auc_validation", "DOUBLE", None),
            ("table11.referred_pct_aian_child", "DOUBLE", None),
            ("figure3.variable", "VARCHAR", None),
            ("figure3.models_appearing", "BIGINT", None),
            ("figure3.mean_entry_rank", "DOUBLE", "1 = entered first"),
            ("figure5.week", "BIGINT", "weeks since birth"),
            ("figure5.pct_birth_registration", "DOUBLE", None),
            ("figure5.pct_benefit", "DOUBLE", None),
            ("figure5.pct_either", "DOUBLE", None),
        )
    ]
)


def base_and_settings(artefact):
    """(outcome, linkage level, training years, seed, FitSettings, min positives, max pooled)
    of the current model, from its artefact."""
    from cmi_assets.prm.study import FitSettings

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


def training_by_target(con, level: str, min_positives: int, max_pooled: int, age: int = 2) -> dict:
    """Table 10's training frames: for each target, its newest complete cohort(s), pooled
    while positives are too few (NZ Table 10 note 3); or the reason there is none."""
    from cmi_assets.cohorts import TARGETS, outcome_column

    schema, table = OUTCOMES_TABLE.split(".")
    columns = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }
    out: dict = {}
    for target in TARGETS:
        if outcome_column(target, age) not in columns:
            out[target] = f"{outcome_column(target, age)} is not in {OUTCOMES_TABLE}"
            continue
        years, notes = training_cohorts(con, outcome_column(target, age), level, min_positives, max_pooled)
        if not years:
            out[target] = notes[-1] if notes else "no complete cohort"
            continue
        label = f"{min(years)}" if len(years) == 1 else f"{min(years)}-{max(years)}"
        out[target] = (cohort_frame(con, level, years), label)
    return out


def figure5_table(con, birth_year: int, linkage_level: str = FIGURE5_LEVEL) -> pl.DataFrame:
    """NZ Figure 5 for one cohort: percent observed by week since birth, of every child of the
    birth year seen in birth registration or benefit data (cohorts.first_observations: the
    population table keeps only those seen by 13 weeks, so it is read from the event tables)."""
    from cmi_assets.cohorts import first_observations, observed_by_week

    seen = first_observations(con, birth_year, linkage_level)
    return observed_by_week(seen, FIGURE5_MAX_WEEKS).with_columns(
        pl.lit(birth_year).alias("birth_year"),
        pl.lit(linkage_level).alias("linkage_level"),
        pl.lit(seen.height).alias("children"),
    )


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figure3_chart(figure3: pl.DataFrame) -> str:
    """Models appearing against mean entry rank, one labelled point per variable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = figure3.filter(pl.col("mean_entry_rank").is_not_null())
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.scatter(data["models_appearing"].to_list(), data["mean_entry_rank"].to_list(), color="#2a7ab9")
    for name, x, y in data.select("variable", "models_appearing", "mean_entry_rank").iter_rows():
        axis.annotate(name, (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points")
    axis.invert_yaxis()
    axis.set_xlabel("models the variable appears in")
    axis.set_ylabel("mean entry rank (1 = first)")
    return f"![Figure 3](data:image/png;base64,{_png(figure)})"


def figure5_chart(figure5: pl.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3))
    for column, colour in (
        ("pct_birth_registration", "#2a7ab9"),
        ("pct_benefit", "#c0392b"),
        ("pct_either", "#333333"),
    ):
        axis.plot(figure5["week"].to_list(), figure5[column].to_list(), color=colour, label=column.removeprefix("pct_"))
    axis.axvline(13, color="#999999", linestyle=":")
    axis.set_xlabel("weeks since birth")
    axis.set_ylabel("% of children observed")
    axis.legend(fontsize=7)
    return f"![Figure 5](data:image/png;base64,{_png(figure)})"


def fit_study_tables(con, artefact, notes: list[str]) -> tuple[dict[str, pl.DataFrame], dict]:
    """Tables 9-11 and Figure 3 for the current model (the library does the fitting)."""
    import numpy as np

    from cmi_assets.cohorts import outcome_column
    from cmi_assets.prm.study import (
        ModelNotFitted,
        agency_data_table,
        alternative_targets_table,
        figure3_table,
        fit_sampled_stepwise,
        model_rng,
        separate_models_table,
    )
    from cmi_assets.synthetic.profile import component_rng

    outcome, level, years, seed, settings, min_positives, max_pooled = base_and_settings(artefact)
    training = cohort_frame(con, level, years)
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
    year, more = scoring_birth_year(con, years, outcome_column("A", SCORING_AGE))
    notes += more
    scored = cohort_frame(con, level, [year]) if year is not None else None
    rng_for = lambda name: model_rng(seed, name)  # noqa: E731 - one stream per named model
    table9, models9, notes9 = separate_models_table(base, training, scored, rng_for, settings)
    by_target = training_by_target(con, level, min_positives, max_pooled)
    table10, models10, notes10 = alternative_targets_table(base, by_target, scored, rng_for, settings)
    table11, models11, notes11 = agency_data_table(base, training, scored, rng_for, settings)
    notes += notes9 + notes10 + notes11
    models = {"Base model": base, **models9, **models10, **models11}
    label = f"{min(years)}" if len(years) == 1 else f"{min(years)}-{max(years)}"
    tag = [pl.lit(artefact.version).alias("model_sha12"), pl.lit(year).cast(pl.Int32).alias("scored_birth_year")]
    base_cohort = pl.lit(label).alias("training_cohort")  # Table 10 rows carry their own training cohorts
    tables = {
        "table9": table9.with_columns(*tag, base_cohort),
        "table10": table10.with_columns(tag),
        "table11": table11.with_columns(*tag, base_cohort),
        "figure3": figure3_table(models).with_columns(pl.lit(len(models)).alias("models_fitted")),
    }
    return tables, {"models": list(models), "scored_birth_year": year}


@dg.asset(
    name="prm_study_models",
    deps=["prm_model", "prm_scores", "cohort_features", "cohort_outcomes", "event_tables"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    owners=OWNERS,
    description=(
        "The NZ study's further models, fitted like the base model on its training cohorts and evaluated on the scored "
        "cohort: Table 9 (separate models per group, AIAN / other children with CP history / on benefit, combined in "
        "proportion to known maltreatment), Table 10 (a model per target A-E), Table 11 (with health data, and without "
        "births and corrections data), Figure 3 (how often and at which rank each variable enters across all these "
        "models) and Figure 5 (children observed by weeks since birth, less conservative linkage). Analysis zone, "
        "prm.table9/table10/table11/figure3/figure5; markdown and charts in the metadata."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata={
        "dagster/table_name": f"{WAREHOUSE}.{SCHEMA}.*",
        "zone": WAREHOUSE,
        "dagster/column_schema": STUDY_SCHEMA,
    },
)
def prm_study_models(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    import duckdb

    from cmi_assets.prm.report import transpose_for_display

    notes: list[str] = []
    artefact, _ = current_artefact(storage)
    info: dict = {}
    with storage.warehouse() as con:
        tables: dict[str, pl.DataFrame] = {}
        if artefact is None:
            notes.append("no current PRM model (see prm_model): Tables 9-11 and Figure 3 not computed")
        else:
            tables, info = fit_study_tables(con, artefact, notes)
        year = info.get("scored_birth_year")
        if year is None and artefact is not None:
            year = min(int(y) for y in artefact.document["metadata"].get("training_birth_years", [0]))
        if year:
            try:
                tables["figure5"] = figure5_table(con, int(year))
            except duckdb.Error as error:
                notes.append(f"Figure 5 not computed: the event tables cannot be read ({type(error).__name__})")
        else:
            notes.append("Figure 5 not computed: no cohort chosen (no model and no scored cohort)")
        for name in STUDY_TABLES:
            if name in tables:
                write_table(con, f"{SCHEMA}.{name}", tables[name])
            else:
                con.execute(f"drop table if exists {SCHEMA}.{name}")  # nothing stale in the report
        write_table(con, STUDY_NOTES_TABLE, pl.DataFrame({"note": notes}, schema={"note": pl.String}))
    metadata: dict = {
        "dagster/row_count": sum(t.height for t in tables.values()),
        "tables": tables_listed(tables),
        "models_fitted": len(info.get("models", [])),
        "models": metadata_table([{"model": name} for name in info.get("models", [])], ["model"]),
    }
    for name, key in STUDY_TABLE_KEYS.items():
        if name in tables:
            metadata[name] = frame_table(transpose_for_display(tables[name], key))
    if "figure3" in tables:
        metadata["figure3"] = frame_table(tables["figure3"], digits=2)
        if tables["figure3"]["mean_entry_rank"].drop_nulls().len():
            metadata["figure3_chart"] = dg.MetadataValue.md(figure3_chart(tables["figure3"]))
    if "figure5" in tables:
        figure5 = tables["figure5"]
        metadata["figure5"] = frame_table(figure5.drop("linkage_level"), digits=3)
        metadata["figure5_chart"] = dg.MetadataValue.md(figure5_chart(figure5))
        at_13 = figure5.filter(pl.col("week") == 13)
        if at_13.height and at_13["pct_either"][0] == at_13["pct_either"][0]:
            metadata["pct_observed_by_13_weeks"] = number(float(at_13["pct_either"][0]), 3)
    metadata["notes"] = dg.MetadataValue.md(notes_markdown(notes))
    context.log.info(f"prm_study_models: {len(info.get('models', []))} models, tables {', '.join(sorted(tables))}")
    return dg.MaterializeResult(metadata=metadata)
