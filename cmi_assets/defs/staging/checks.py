"""An `expectations` check per staged model that has a GX suite in
dbt_like_sql/expectations/: the suite and its results (counts only) in the metadata."""

import dagster as dg

from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.defs.staging.assets import SQL_MODELS
from cmi_assets.metadata import table
from cmi_assets.sources.gx_suites import load_suite, outcome_markdown, run_suite, suite_columns, suite_path
from cmi_assets.sqlmodels import SqlModel

COLUMN_ARGUMENTS = ("column", "column_A", "column_B")


def suite_table(suite: dict) -> dg.MetadataValue:
    """The suite as a table, one expectation a row: its type, the columns it reads and its
    other arguments as short text (e.g. "min_value 1, max_value 4")."""
    rows = []
    for expectation in suite.get("expectations", []):
        kwargs = expectation.get("kwargs", {})
        arguments = [
            f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in kwargs.items()
            if k not in COLUMN_ARGUMENTS
        ]
        rows.append(
            {
                "expectation": str(expectation.get("type", "")).removeprefix("expect_"),
                "columns": " vs ".join(str(kwargs[k]) for k in COLUMN_ARGUMENTS if k in kwargs),
                "arguments": "; ".join(arguments),
            }
        )
    return table(rows, ["expectation", "columns", "arguments"])


def build_expectations_check(model: SqlModel, suite: dict) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(model.name),
        name="expectations",
        description=f"Great Expectations suite {suite_path(model.name).name}: {suite.get('description', '')}",
        pool=DUCKDB_WRITE_POOL,
        automation_condition=dg.AutomationCondition.any_deps_updated(),
        metadata={"suite": suite_table(suite)},
    )
    def expectations_check(storage: StorageResource) -> dg.AssetCheckResult:
        columns = ", ".join(f'"{c}"' for c in suite_columns(suite))
        with storage.identified(read_only=True) as con:
            frame = con.execute(f"select {columns} from {model.table}").df()
        outcome = run_suite(frame, suite, model.name)
        failed = outcome.failures()
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{outcome.successful} of {outcome.evaluated} expectations met"
                + (
                    ""
                    if not failed
                    else ": failed "
                    + "; ".join(
                        f"{o.expectation} on {o.columns} ({o.unexpected_count} of {o.element_count} rows)"
                        for o in failed
                    )
                )
            ),
            metadata={
                "rows": len(frame),
                "expectations_met": outcome.successful,
                "expectations_evaluated": outcome.evaluated,
                "results": dg.MetadataValue.md(outcome_markdown(outcome)),
                "suite": suite_table(suite),
            },
        )

    return expectations_check


EXPECTATION_CHECKS = [
    build_expectations_check(model, suite) for model in SQL_MODELS if (suite := load_suite(model.name)) is not None
]
