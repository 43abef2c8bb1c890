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

import dagster as dg
import duckdb
import polars as pl

from cmi_assets.defs.prm.assets import (
    COHORTS,
    notes_md,
    registry,
    tables_listed,
)
from cmi_assets.defs.prm.preset import prm_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.metadata import frame_table, number, table_metadata
from cmi_assets.metadata import table as metadata_table
from cmi_assets.prm.charts import figure3_chart, figure5_chart
from cmi_assets.prm.report import transpose_for_display
from cmi_assets.prm.tables import SCHEMA, STUDY_COLUMNS, STUDY_NOTES_TABLE, STUDY_TABLES
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import replace_table


@prm_asset(
    deps=["prm_model", "prm_scores", "cohort_features", "cohort_outcomes", "event_tables"],
    kinds={"python", "duckdb"},
    metadata=table_metadata(WAREHOUSE, f"{SCHEMA}.*", STUDY_COLUMNS),
)
def prm_study_models(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The NZ study's further models, fitted like the base model on its training cohorts and evaluated on the
    scored cohort: Table 9 (separate models per group, AIAN / other children with CP history / on benefit,
    combined in proportion to known maltreatment), Table 10 (a model per target A-E), Table 11 (with health
    data, and without births and corrections data), Figure 3 (how often and at which rank each variable enters
    across all these models) and Figure 5 (children observed by weeks since birth, less conservative linkage).
    Analysis zone, prm.table9/table10/table11/figure3/figure5; markdown and charts in the metadata."""
    from cmi_assets.prm.feasibility import STUDY_TABLE_KEYS
    from cmi_assets.prm.study_tables import figure5_table, fit_study_tables

    notes: list[str] = []
    artefact, _ = registry(storage).current()
    info: dict = {}
    with storage.warehouse() as con:
        tables: dict[str, pl.DataFrame] = {}
        if artefact is None:
            notes.append("no current PRM model (see prm_model): Tables 9-11 and Figure 3 not computed")
        else:
            tables, info = fit_study_tables(con, COHORTS, artefact, notes)
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
                replace_table(con, f"{SCHEMA}.{name}", tables[name])
            else:
                con.execute(f"drop table if exists {SCHEMA}.{name}")  # nothing stale in the report
        replace_table(con, STUDY_NOTES_TABLE, pl.DataFrame({"note": notes}, schema={"note": pl.String}))
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
    metadata["notes"] = notes_md(notes)
    context.log.info(f"prm_study_models: {len(info.get('models', []))} models, tables {', '.join(sorted(tables))}")
    return dg.MaterializeResult(metadata=metadata)
