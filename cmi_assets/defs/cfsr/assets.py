"""CFSR Round 4 recurrence of maltreatment as assets (CFSR R4 rules, sections 2-4):

  stg_child_protection_ncands_child
    -> ncands_child_file  (FILE_YEARS FYt: submission year t, all states; identified zone;
                           child_file.py)
    -> cfsr_recurrence    (PERIODS FYt: period FYt-(t+1) from files t and t+1; DQ checks)
    -> cfsr_rsp, cfsr_drilldown (per period; analysis zone)
    -> cfsr_trend -> cfsr_report (every period; HTML under reports/cfsr/; trend.py)

Child-level tables (Child File rows, the per-child audit) hold agency IDs and dates
of birth, so they stay in the identified zone (schema cfsr); the analysis zone gets
counts and rates per state, period and group. The assets here read those tables, so
they run in the linker code location; trend.py's read the analysis zone only and run in
the analyst location (cmi_assets/locations.py). Metadata and logs carry counts, rates
and state codes only, and everything published goes through one small-cell rule
(cfsr/suppression.py): under 11 children, no numerator and no rate.
"""

import dagster as dg
import polars as pl

from cmi_assets.cfsr.child_file import (
    read_child_file,
)
from cmi_assets.cfsr.drilldown import denominator_children, drilldown_table, initial_report_records
from cmi_assets.cfsr.formatting import format_percent
from cmi_assets.cfsr.published import (
    STATUSES,
    by_state_rows,
    national_drilldown_rows,
    published_recurrence,
    published_rsp,
    rsp_model_row,
    rsp_rows,
    states_by_status,
    with_period,
)
from cmi_assets.cfsr.recurrence import NATIONAL_PERFORMANCE, RecurrenceResult, observed_recurrence, period_label
from cmi_assets.cfsr.report import rsp_explanation, rsp_to_observed
from cmi_assets.cfsr.suppression import SUPPRESS_BELOW
from cmi_assets.cfsr.tables import (
    AUDIT_TABLE,
    BY_STATE_COLUMNS,
    BY_STATE_TABLE,
    DRILLDOWN_COLUMNS,
    DRILLDOWN_TABLE,
    RSP_MODEL_TABLE,
    RSP_TABLE,
    RSP_TABLE_COLUMNS,
)
from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.cfsr.checks import dq_check_results, dq_check_specs
from cmi_assets.defs.cfsr.partitions import FILES_USED_BY_PERIODS, PERIODS, fy_key, fy_of_key
from cmi_assets.defs.cfsr.preset import cfsr_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.metadata import mapping_table, number, states_named, table_metadata
from cmi_assets.metadata import table as table_value
from cmi_assets.storage import IDENTIFIED, WAREHOUSE
from cmi_assets.tables import read_table, replace_partition_rows

_MOVED_TO_TREND = ("cfsr_trend", "cfsr_report")


def __getattr__(name: str):
    """cfsr_trend and cfsr_report, defined in trend.py, still reachable as attributes of this
    module (PEP 562) without being held here, where the defs loader would find them twice."""
    if name in _MOVED_TO_TREND:
        from cmi_assets.defs.cfsr import trend

        return getattr(trend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# A period needs both of its files (and the drill-down its recurrence): unlike other
# downstream assets these do not run while an input partition is missing, so a period
# whose second file is late waits for it instead of failing.
PERIOD_AUTOMATION = (follow_upstream() & ~dg.AutomationCondition.any_deps_missing()).with_label(
    "eager once both FY files are in, gated on blocking checks"
)


# --- cfsr_recurrence ------------------------------------------------------------------------


@cfsr_asset(
    partitions_def=PERIODS,
    deps=[dg.AssetDep("ncands_child_file", partition_mapping=FILES_USED_BY_PERIODS)],
    kinds={"duckdb", "polars"},
    description=(
        "Observed recurrence of maltreatment for cohort period FYt-(t+1) from Child Files t and t+1 (CFSR R4 "
        "rules, section 2.1): per state denominator, numerator, observed rate, DQ status and what each rule "
        "excluded (analysis zone; numerator and rate suppressed under "
        f"{SUPPRESS_BELOW} children); the per-child audit of every rule in the identified zone (cfsr.recurrence_audit)."
    ),
    check_specs=dq_check_specs("cfsr_recurrence"),
    automation_condition=PERIOD_AUTOMATION,
    metadata=table_metadata(WAREHOUSE, BY_STATE_TABLE, BY_STATE_COLUMNS),
)
def cfsr_recurrence(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fy = fy_of_key(context.partition_key)
    with storage.identified() as con:
        file_t, file_t1 = read_child_file(con, fy), read_child_file(con, fy + 1)
        _require_child_files(fy, {fy: file_t, fy + 1: file_t1})
        result = observed_recurrence(file_t, file_t1, fy)
        replace_partition_rows(con, AUDIT_TABLE, result.audit.with_columns(period_fy=pl.lit(fy)), "period_fy", fy)
    published = published_recurrence(result)
    with storage.warehouse() as con:
        for table, rows in published.tables().items():
            replace_partition_rows(con, table, rows, "period_fy", fy)
    national = published.pooled
    dq_states = published.states_where(pl.col("dq_status") == "DQ")
    context.log.info(
        f"{period_label(fy)}: {result.by_state.height} states, pooled observed {format_percent(national['observed'])} "
        f"({national['numerator']}/{national['denominator']}); DQ: {states_named(dq_states)}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.by_state.height,
            "period": period_label(fy),
            "pooled_observed_pct": None if national["observed"] is None else round(100 * national["observed"], 2),
            "pooled_numerator": national["numerator"],
            "pooled_denominator": national["denominator"],
            "dq_states": states_named(dq_states),
            "states_suppressed": states_named(published.states_where(pl.col("suppressed"))),
            "audit_rows": result.audit.height,
            "audit_table": f"{IDENTIFIED}.{AUDIT_TABLE}",
            "by_state": table_value(*by_state_rows(published.by_state)),
        },
        check_results=dq_check_results(published.dq),
    )


def _require_child_files(fy: int, files: dict[int, pl.DataFrame]) -> None:
    """A period reads the Child Files t and t+1: fail, naming the missing ones in the
    metadata, when either has no rows."""
    missing = [fy_key(year) for year, file in files.items() if file.is_empty()]
    if missing:
        raise dg.Failure(
            description=f"period {period_label(fy)} needs Child Files {', '.join(missing)}: not delivered",
            metadata={
                "period": period_label(fy),
                "child_files_needed": ", ".join(fy_key(year) for year in files),
                "child_files_missing": ", ".join(missing),
            },
        )


# --- cfsr_rsp -------------------------------------------------------------------------------


@cfsr_asset(
    partitions_def=PERIODS,
    deps=["cfsr_recurrence"],
    kinds={"duckdb", "scipy"},
    description=(
        "Risk-standardized performance per state for one period (CFSR R4 rules, section 4): random-intercept "
        "logistic model over all DQ-passing states with age at initial victimization, RSP = O/E x 9.7%, log-scale "
        "binomial interval, status better / no different / worse against 9.7%, or DQ with no RSP; a state under "
        f"{SUPPRESS_BELOW} children is modelled but published as suppressed (no numerator, rate or RSP). The status "
        "counts per period are plotted under Metadata > Plots."
    ),
    metadata=table_metadata(WAREHOUSE, RSP_TABLE, RSP_TABLE_COLUMNS),
)
def cfsr_rsp(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.cfsr.rsp import RSPOptions, risk_standardized_performance

    fy = fy_of_key(context.partition_key)
    with storage.warehouse(read_only=True) as con:
        by_state = read_table(con, BY_STATE_TABLE, "where period_fy = ?", [fy])
    if by_state.is_empty():
        raise dg.Failure(description=f"no cfsr_recurrence for {period_label(fy)}: materialize it first")
    with storage.identified(read_only=True) as con:
        # The model needs state, age group and outcome per child: no IDs are read.
        audit = _audit(con, fy, "STATERR, age_group, in_denominator, recur")
    recurrence = RecurrenceResult(
        by_state=by_state.drop("period_fy"), audit=audit, national=pl.DataFrame(), dq=pl.DataFrame(), fy=fy
    )
    result = risk_standardized_performance(recurrence, RSPOptions())
    fit, published = result.fit, published_rsp(result.by_state)
    with storage.warehouse() as con:
        replace_partition_rows(con, RSP_TABLE, with_period(published, fy), "period_fy", fy)
        replace_partition_rows(con, RSP_MODEL_TABLE, rsp_model_row(fit, fy, NATIONAL_PERFORMANCE), "period_fy", fy)
    statuses = dict(published.group_by("status").len().sort("status").iter_rows())
    context.log.info(f"{period_label(fy)}: sigma {fit.sigma:.3f}, converged {fit.converged}, statuses {statuses}")
    states = states_by_status(published)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": published.height,
            "period": period_label(fy),
            "rsp_to_observed": number(rsp_to_observed(published)),
            "why_rsp_above_observed": dg.MetadataValue.md(rsp_explanation(published, NATIONAL_PERFORMANCE)),
            "rsp_by_state": table_value(*rsp_rows(published)),
            # Numbers, so the UI's Metadata > Plots view charts them across periods.
            **{f"n_states_{status.replace(' ', '_').lower()}": len(states[status]) for status in STATUSES},
            "states_worse": states_named(states["worse"]),
            "states_better": states_named(states["better"]),
            "states_dq": states_named(states["DQ"]),
            "states_suppressed": states_named(states["suppressed"]),
            "model_sigma": round(fit.sigma, 4),
            "model_converged": fit.converged,
        }
    )


def _audit(con, fy: int, columns: str) -> pl.DataFrame:
    """The period's rows of the per-child audit, only the columns a step needs."""
    return con.execute(f"select {columns} from {AUDIT_TABLE} where period_fy = ?", [fy]).pl()


# --- cfsr_drilldown -------------------------------------------------------------------------


@cfsr_asset(
    partitions_def=PERIODS,
    deps=["cfsr_recurrence", dg.AssetDep("ncands_child_file", partition_mapping=FILES_USED_BY_PERIODS)],
    kinds={"duckdb", "polars"},
    description=(
        "Observed recurrence per state and pooled, by age group, race/ethnicity, sex, county and maltreatment type "
        f"of the initial report, for one period; cells with a denominator under {SUPPRESS_BELOW} are suppressed "
        "(numerator and rate null, flagged). Analysis zone, counts only."
    ),
    automation_condition=PERIOD_AUTOMATION,
    metadata=table_metadata(WAREHOUSE, DRILLDOWN_TABLE, DRILLDOWN_COLUMNS),
)
def cfsr_drilldown(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fy = fy_of_key(context.partition_key)
    with storage.identified(read_only=True) as con:
        audit = _audit(con, fy, "STATERR, CHID, initial_rptid, in_denominator, recur, age_group")
        file_t, file_t1 = read_child_file(con, fy), read_child_file(con, fy + 1)
        _require_child_files(fy, {fy: file_t, fy + 1: file_t1})
        records = initial_report_records(file_t, file_t1)
    if audit.is_empty():
        raise dg.Failure(description=f"no cfsr_recurrence audit for {period_label(fy)}: materialize it first")
    children = denominator_children(audit, records)  # IDs dropped here
    with storage.warehouse() as con:
        dq_status = read_table(con, BY_STATE_TABLE, "where period_fy = ?", [fy]).select("state", "dq_status")
        table = drilldown_table(children, dq_status)
        replace_partition_rows(con, DRILLDOWN_TABLE, with_period(table, fy, label=True), "period_fy", fy)
    suppressed = int(table["suppressed"].sum())
    context.log.info(f"{period_label(fy)}: {table.height} drill-down cells, {suppressed} suppressed")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "period": period_label(fy),
            "cells_suppressed": suppressed,
            "cells_by_dimension": mapping_table(
                dict(table.group_by("dimension").len().sort("dimension").iter_rows()), "dimension", "cells"
            ),
            "national": table_value(*national_drilldown_rows(table)),
        }
    )
