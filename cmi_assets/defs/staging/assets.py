"""One asset per dbt_like_sql/*.sql model: deps parsed from the SQL (sqlglot), the
table rebuilt in identified.stg, metadata = row count, column schema and the SQL."""

import functools
import hashlib

import dagster as dg
import duckdb

from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.sources import all_specs, ensure_raw_tables, load_spec
from cmi_assets.sources.load import RAW_SCHEMA, raw_columns
from cmi_assets.sqlmodels import (
    SqlModel,
    asset_name_for_table,
    column_lineage,
    discover_models,
    input_schema,
    model_columns,
    run_model,
)
from cmi_assets.storage import IDENTIFIED

OWNERS = ["team:data-engineering"]
# Parsed once per load: the assets, their declared schemas and the expectation checks share it.
SQL_MODELS = discover_models()


def model_deps(model: SqlModel) -> list[dg.AssetKey]:
    raw = [dg.AssetKey(f"raw_{agency}") for agency in model.depends_on_raw_agencies]
    return raw + [dg.AssetKey(name) for name in model.depends_on_models]


def lineage_metadata(lineage: dict[str, list[tuple[str, str]]]) -> dg.TableColumnLineage:
    """sqlglot's column lineage as Dagster's: output column -> upstream asset columns."""
    return dg.TableColumnLineage(
        deps_by_column={
            output: [
                dg.TableColumnDep(asset_key=dg.AssetKey(asset_name_for_table(table)), column_name=column)
                for table, column in sources
            ]
            for output, sources in lineage.items()
        }
    )


def lineage_markdown(lineage: dict[str, list[tuple[str, str]]]) -> str:
    """The same lineage as a table: the open-source UI records dagster/column_lineage but
    only Dagster+ draws it, so users read it here."""
    rows = [
        f"| `{output}` | " + ", ".join(f"`{asset_name_for_table(t)}.{c}`" for t, c in sources) + " |"
        for output, sources in lineage.items()
    ]
    return "\n".join(["| column | computed from |", "|---|---|", *rows])


@functools.lru_cache(maxsize=1)
def declared_model_schemas() -> dict[str, list[tuple[str, str]]]:
    """Every model's columns, known before anything runs: the models are built once over
    empty raw tables (from the specs) in an in-memory DuckDB. Unparameterised SQL only:
    DuckDB imports pandas to bind parameters, which would slow loading the code location."""
    con = duckdb.connect()
    try:
        con.execute(f"CREATE SCHEMA {RAW_SCHEMA}")
        for spec in all_specs().values():
            for record_type in spec.record_types.values():
                columns = ", ".join(f'"{name}" {kind}' for name, kind in raw_columns(record_type).items())
                con.execute(f"CREATE TABLE {RAW_SCHEMA}.{record_type.table_name} ({columns})")
        schemas = {}
        for model in SQL_MODELS:
            run_model(con, model)
            schemas[model.name] = [(row[0], row[1]) for row in con.execute(f"DESCRIBE {model.table}").fetchall()]
        return schemas
    finally:
        con.close()


def build_sql_model_asset(model: SqlModel) -> dg.AssetsDefinition:
    @dg.asset(
        name=model.name,
        deps=model_deps(model),
        group_name="staging",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        description=model.description,
        pool=DUCKDB_WRITE_POOL,
        code_version=hashlib.sha256(model.sql.encode("utf-8")).hexdigest()[:12],
        metadata={
            "sql_file": model.path.name,
            "dagster/table_name": f"{IDENTIFIED}.{model.table}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name=c, type=t) for c, t in declared_model_schemas().get(model.name, [])]
            ),
        },
        automation_condition=follow_upstream(),
    )
    def sql_model(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
        with storage.identified() as con:
            # An agency without a file of some record type yet still has an (empty) table.
            for agency in model.depends_on_raw_agencies:
                ensure_raw_tables(con, load_spec(agency))
            rows = run_model(con, model)
            columns = model_columns(con, model)
            lineage = column_lineage(model, input_schema(con, model))
        context.log.info(f"{model.table}: {rows} rows")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(name=column, type=kind) for column, kind in columns]
                ),
                "dagster/table_name": f"{IDENTIFIED}.{model.table}",
                "dagster/column_lineage": lineage_metadata(lineage),
                "column_lineage": dg.MetadataValue.md(lineage_markdown(lineage)),
                "sql": dg.MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
            }
        )

    return sql_model


SQL_MODEL_ASSETS = [build_sql_model_asset(model) for model in SQL_MODELS]
