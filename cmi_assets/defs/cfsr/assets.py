"""CFSR Round 4 recurrence of maltreatment as assets (CFSR R4 rules, sections 2-4):

  stg_child_protection_ncands_child
    -> ncands_child_file  (FILE_YEARS FYt: submission year t, all states; identified zone)
    -> cfsr_recurrence    (PERIODS FYt: period FYt-(t+1) from files t and t+1; DQ checks)
    -> cfsr_rsp, cfsr_drilldown (per period; analysis zone)
    -> cfsr_trend -> cfsr_report (every period; HTML under reports/cfsr/)

Child-level tables (Child File rows, the per-child audit) hold agency IDs and dates
of birth, so they stay in the identified zone (schema cfsr); the analysis zone gets
counts and rates per state, period and group. Metadata and logs carry counts, rates
and state codes only, and everything published goes through one small-cell rule
(cfsr/suppression.py): under 11 children, no numerator and no rate.
"""

import json

import dagster as dg
import polars as pl

from cmi_assets.cfsr.ages import age_group_labels
from cmi_assets.cfsr.child_file import (
    CHILD_FILE_TABLE,
    STAGED_TABLE,
    extracts_fingerprint,
    invalid_code_counts,
    missing_elements,
    read_child_file,
    rows_per_state,
    staged_child_file,
    states_in_year,
    states_missing_from,
)
from cmi_assets.cfsr.drilldown import denominator_children, drilldown_table, initial_report_records
from cmi_assets.cfsr.recurrence import BY_STATE_EXCLUSIONS, RecurrenceResult, observed_recurrence, period_label
from cmi_assets.cfsr.suppression import (
    BY_STATE_VALUES,
    DQ_VALUES,
    RSP_VALUES,
    SUPPRESS_BELOW,
    suppress_national,
    suppress_small_cells,
)
from cmi_assets.cfsr.trend import national_trend, state_trend
from cmi_assets.defs.automation import follow_upstream
from cmi_assets.defs.cfsr.checks import (
    child_file_check_specs,
    dq_check_results,
    dq_check_specs,
    elements_and_codes_result,
    states_complete_result,
    undelivered_year_results,
)
from cmi_assets.defs.cfsr.partitions import FILE_YEARS, FILES_USED_BY_PERIODS, PERIODS, fy_key, fy_of_key
from cmi_assets.defs.resources import DUCKDB_WRITE_POOL, StorageResource
from cmi_assets.metadata import mapping_table, number, states_named, transposed
from cmi_assets.metadata import table as table_value
from cmi_assets.storage import IDENTIFIED, WAREHOUSE
from cmi_assets.tables import read_table, replace_partition_rows, replace_table, table_exists

GROUP = "cfsr"
OWNERS = ["team:cfsr-analysts"]
STAGED_KEY = dg.AssetKey("stg_child_protection_ncands_child")

AUDIT_TABLE = "cfsr.recurrence_audit"  # identified zone
BY_STATE_TABLE = "cfsr.recurrence_by_state"
NATIONAL_TABLE = "cfsr.recurrence_national"
DQ_TABLE = "cfsr.dq_checks"
RSP_TABLE = "cfsr.rsp"
RSP_MODEL_TABLE = "cfsr.rsp_model"
DRILLDOWN_TABLE = "cfsr.drilldown"
TREND_TABLE = "cfsr.trend"
NATIONAL_TREND_TABLE = "cfsr.national_trend"
REPORT_SUBDIR = ("reports", "cfsr")
STATUSES = ("better", "no different", "worse", "DQ", "suppressed")

# A period needs both of its files (and the drill-down its recurrence): unlike other
# downstream assets these do not run while an input partition is missing, so a period
# whose second file is late waits for it instead of failing.
PERIOD_AUTOMATION = (follow_upstream() & ~dg.AutomationCondition.any_deps_missing()).with_label(
    "eager once both FY files are in, gated on blocking checks"
)


def _schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    """(name, type, description with its unit) per column."""
    return dg.TableSchema(columns=[dg.TableColumn(name, kind, description=text) for name, kind, text in columns])


# Column descriptions shared by the published tables; the unit closes each description.
# Rates are proportions (0-1); the UI and report show them as percent.
SUPPRESSED_NOTE = f"null when DQ or when the denominator is under {SUPPRESS_BELOW} (suppressed)"
PERIOD_COLUMNS = (
    ("period_fy", "int", "cohort FY t: the period reads Child Files t and t+1 (fiscal year)"),
    ("period", "string", "data used, e.g. FY19-20 (label)"),
)
STATE_COLUMN = ("state", "string", "two-letter state code, STATERR (code)")
COUNT_COLUMNS = (
    ("denominator", "int", "children with a substantiated or indicated report in the 12-month period (children)"),
    (
        "numerator",
        "int",
        f"of them, children with another within 12 months of the initial report; {SUPPRESSED_NOTE} (children)",
    ),
    (
        "observed",
        "float",
        f"observed recurrence, numerator / denominator; {SUPPRESSED_NOTE} (proportion 0-1, lower is better)",
    ),
    (
        "dq_status",
        "string",
        "pass, or DQ when the state failed an NCANDS data-quality check for the files used (status)",
    ),
)
SUPPRESSED_COLUMN = ("suppressed", "bool", f"true when the denominator is under {SUPPRESS_BELOW} children (flag)")
RSP_COLUMNS = (
    ("rsp", "float", f"risk-standardized performance, O/E x 9.7%; {SUPPRESSED_NOTE} (proportion 0-1, lower is better)"),
    (
        "rsp_lower",
        "float",
        f"lower bound of the 95% RSP interval, log-scale binomial; {SUPPRESSED_NOTE} (proportion 0-1)",
    ),
    ("rsp_upper", "float", f"upper bound of the 95% RSP interval; {SUPPRESSED_NOTE} (proportion 0-1)"),
    (
        "status",
        "string",
        "better / no different / worse than national performance 9.7% by the whole interval; DQ; suppressed (status)",
    ),
)

CHILD_FILE_SCHEMA_METADATA = _schema(
    ("subyr", "int", "submission FY, #1 (fiscal year)"),
    ("staterr", "string", "state, #2 (code)"),
    ("rptid", "string", "report ID, #3; identifying (ID)"),
    ("chid", "string", "child ID, #4; identifying (ID)"),
    ("rptdt", "date", "report date, #6 (date)"),
    ("chage", "int", "age at report, #12; 77 unborn, 99 unknown (years)"),
    ("chbdate", "date", "date of birth, #13; identifying (date)"),
    ("chsex", "string", "sex, #14: 1 male, 2 female, 9 unknown (code)"),
    ("mal1lev..mal4lev", "string", "maltreatment disposition levels, #27-33: 1 substantiated, 2 indicated, ... (code)"),
    ("maldeath", "string", "died of maltreatment, #34: 1 yes (code)"),
    ("inciddt", "date", "incident date, #146 (date)"),
    ("...", "", "county, race, maltreatment types, AFCARSID, provenance (see the Child File layout)"),
)
DQ_REASON_COLUMN = (
    "dq_reason",
    "string",
    "why the state-period is DQ: the checks it fails and the period's files "
    "holding none of its records; blank on a pass (reason)",
)
BY_STATE_SCHEMA = _schema(
    PERIOD_COLUMNS[0],
    STATE_COLUMN,
    PERIOD_COLUMNS[1],
    *COUNT_COLUMNS,
    DQ_REASON_COLUMN,
    *[(e.column, "int", f"{e.rule} ({e.unit})") for e in BY_STATE_EXCLUSIONS],
    SUPPRESSED_COLUMN,
)
RSP_SCHEMA = _schema(
    PERIOD_COLUMNS[0],
    STATE_COLUMN,
    PERIOD_COLUMNS[1],
    *COUNT_COLUMNS,
    (
        "E",
        "float",
        "expected recurrences: model probabilities with the state effect at 0, summed over the state's "
        "children (children)",
    ),
    ("P", "float", f"predicted recurrences with the state's own effect; {SUPPRESSED_NOTE} (children)"),
    ("u_mode", "float", f"the state's random intercept, conditional mode; {SUPPRESSED_NOTE} (log-odds)"),
    *RSP_COLUMNS,
    SUPPRESSED_COLUMN,
)
DRILLDOWN_SCHEMA_METADATA = _schema(
    *PERIOD_COLUMNS,
    ("state", "string", "two-letter state code, or 'national' for DQ-passing states pooled (code)"),
    ("dimension", "string", "age_group, race_ethnicity, sex, county or maltreatment_type of the initial report (name)"),
    ("group", "string", "the group within the dimension, e.g. 1-5 y, hispanic, out of state (label)"),
    ("denominator", "int", "children in the denominator in this group (children)"),
    ("numerator", "int", f"of them, children with a recurrence; {SUPPRESSED_NOTE} (children)"),
    ("observed", "float", f"numerator / denominator; {SUPPRESSED_NOTE} (proportion 0-1, lower is better)"),
    ("suppressed", "bool", f"true when the group has fewer than {SUPPRESS_BELOW} children (flag)"),
    COUNT_COLUMNS[3],
)
TREND_SCHEMA = _schema(
    STATE_COLUMN,
    *PERIOD_COLUMNS,
    *COUNT_COLUMNS,
    *RSP_COLUMNS,
    (
        "previous_period",
        "string",
        "the state's previous period with a published RSP, DQ and suppressed periods skipped (label)",
    ),
    ("rsp_change", "float", "RSP minus the previous published period's (proportion points)"),
    ("observed_change", "float", "observed minus the previous published period's (proportion points)"),
    ("status_change", "string", "previous status -> this status (status)"),
)


def _table_metadata(zone: str, table: str, schema: dg.TableSchema) -> dict:
    return {"dagster/table_name": f"{zone}.{table}", "dagster/column_schema": schema, "zone": zone}


def _state_list(states: list[str]) -> str:
    """States by name and code ("Oklahoma (OK)"): a bare OK reads as a status."""
    return states_named(states)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


# --- ncands_child_file ----------------------------------------------------------------------


@dg.asset(
    name="ncands_child_file",
    partitions_def=FILE_YEARS,
    deps=[STAGED_KEY],
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    description=(
        "NCANDS Child File of one submission year (partition FYt = SUBYR t), every state, from the staged table; "
        "checked for the CFSR elements and codes and for states missing since the previous year. Identified zone "
        "(agency IDs, dates of birth). Partitions run to the newest FY whose file is due (1 February after the FY "
        "ends; CMI_CFSR_LAST_FY overrides). A due year with no rows is not materialized and its checks warn that "
        "no Child File was delivered; a year whose extracts are unchanged is not rematerialized."
    ),
    pool=DUCKDB_WRITE_POOL,
    check_specs=child_file_check_specs("ncands_child_file"),
    output_required=False,
    automation_condition=follow_upstream(),
    metadata=_table_metadata(IDENTIFIED, CHILD_FILE_TABLE, CHILD_FILE_SCHEMA_METADATA),
)
def ncands_child_file(context: dg.AssetExecutionContext, storage: StorageResource):
    fy = fy_of_key(context.partition_key)
    with storage.identified() as con:
        if not table_exists(con, STAGED_TABLE):
            raise dg.Failure(
                description=f"{STAGED_TABLE} does not exist yet: materialize {STAGED_KEY.to_user_string()}"
            )
        missing = missing_elements(con)
        if missing:
            yield elements_and_codes_result(missing, {}, 0)
            yield states_complete_result([], [], [])
            raise dg.Failure(description=f"{STAGED_TABLE} lacks CFSR elements: {', '.join(missing)}")
        frame = staged_child_file(con, fy)
        previous_states = states_in_year(con, fy - 1)
        states = sorted(frame["staterr"].unique().to_list())
        missing_states = states_missing_from(states, previous_states)
        codes = elements_and_codes_result([], invalid_code_counts(frame), frame.height)
        complete = states_complete_result(missing_states, states, previous_states)
        if frame.is_empty():
            # A due year nobody has delivered: nothing to store, and the checks say so
            # (WARN, not a pass on zero rows; not ERROR: a late file is not a bad one).
            context.log.warning(f"FY{fy}: no Child File delivered; nothing to materialize")
            yield from undelivered_year_results(fy, previous_states)
            return
        fingerprint = extracts_fingerprint(frame)
        stored = (
            con.execute(f"select count(*) from {CHILD_FILE_TABLE} where subyr = ?", [fy]).fetchone()[0]
            if (table_exists(con, CHILD_FILE_TABLE))
            else 0
        )
        if fingerprint == _last_fingerprint(context) and stored == frame.height:
            # Another year's extract changed the staged table, not this year's: skipping
            # keeps the periods that use this file from rerunning.
            context.log.info(f"FY{fy}: extracts unchanged (fingerprint {fingerprint}); not rematerialized")
            yield codes
            yield complete
            return
        replace_partition_rows(con, CHILD_FILE_TABLE, frame, "subyr", fy)
    per_state = rows_per_state(frame)
    context.log.info(f"FY{fy}: {frame.height} rows from {len(per_state)} states stored in {CHILD_FILE_TABLE}")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "states": len(per_state),
            "rows_by_state": mapping_table(per_state, "state", "rows"),
            "extract_files": frame["_extract_file"].n_unique(),
            "extracts_fingerprint": fingerprint,
            "missing_states": _state_list(missing_states),
        },
        check_results=[codes, complete],
        data_version=dg.DataVersion(fingerprint),
    )


def _last_fingerprint(context: dg.AssetExecutionContext) -> str | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[context.partition_key]), limit=1
    ).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get("extracts_fingerprint")
    return value.value if value is not None else None


# --- cfsr_recurrence ------------------------------------------------------------------------


@dg.asset(
    name="cfsr_recurrence",
    partitions_def=PERIODS,
    deps=[dg.AssetDep("ncands_child_file", partition_mapping=FILES_USED_BY_PERIODS)],
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    description=(
        "Observed recurrence of maltreatment for cohort period FYt-(t+1) from Child Files t and t+1 (CFSR R4 "
        "rules, section 2.1): per state denominator, numerator, observed rate, DQ status and what each rule "
        "excluded (analysis zone; numerator and rate suppressed under "
        f"{SUPPRESS_BELOW} children); the per-child audit of every rule in the identified zone (cfsr.recurrence_audit)."
    ),
    pool=DUCKDB_WRITE_POOL,
    check_specs=dq_check_specs("cfsr_recurrence"),
    automation_condition=PERIOD_AUTOMATION,
    metadata=_table_metadata(WAREHOUSE, BY_STATE_TABLE, BY_STATE_SCHEMA),
)
def cfsr_recurrence(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fy = fy_of_key(context.partition_key)
    with storage.identified() as con:
        file_t, file_t1 = read_child_file(con, fy), read_child_file(con, fy + 1)
        _require_child_files(fy, {fy: file_t, fy + 1: file_t1})
        result = observed_recurrence(file_t, file_t1, fy)
        replace_partition_rows(con, AUDIT_TABLE, result.audit.with_columns(period_fy=pl.lit(fy)), "period_fy", fy)
    # Published: small cells suppressed (the pooled rows were computed from the full counts).
    by_state = suppress_small_cells(result.by_state, BY_STATE_VALUES)
    pooled = suppress_national(result.national)
    dq = suppress_small_cells(result.dq, DQ_VALUES)
    with storage.warehouse() as con:
        replace_partition_rows(con, BY_STATE_TABLE, _with_period(by_state, fy), "period_fy", fy)
        replace_partition_rows(con, NATIONAL_TABLE, _with_period(pooled, fy), "period_fy", fy)
        dq_rows = _with_period(dq.with_columns(period=pl.lit(period_label(fy))), fy)
        replace_partition_rows(con, DQ_TABLE, dq_rows, "period_fy", fy)
    national = pooled.row(0, named=True)
    dq_states = by_state.filter(pl.col("dq_status") == "DQ")["state"].to_list()
    context.log.info(
        f"{period_label(fy)}: {result.by_state.height} states, pooled observed {_percent(national['observed'])} "
        f"({national['numerator']}/{national['denominator']}); DQ: {_state_list(dq_states)}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.by_state.height,
            "period": period_label(fy),
            "pooled_observed_pct": None if national["observed"] is None else round(100 * national["observed"], 2),
            "pooled_numerator": national["numerator"],
            "pooled_denominator": national["denominator"],
            "dq_states": _state_list(dq_states),
            "states_suppressed": _state_list(by_state.filter(pl.col("suppressed"))["state"].to_list()),
            "audit_rows": result.audit.height,
            "audit_table": f"{IDENTIFIED}.{AUDIT_TABLE}",
            "by_state": _by_state_table(by_state),
        },
        check_results=dq_check_results(dq),
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


def _with_period(frame: pl.DataFrame, fy: int) -> pl.DataFrame:
    return frame.select(pl.lit(fy, pl.Int64).alias("period_fy"), pl.all())


def _by_state_table(by_state: pl.DataFrame) -> dg.MetadataValue:
    """Rows of the published (suppressed) by_state table, as the UI draws a table inline."""
    rows = []
    for r in by_state.iter_rows(named=True):
        numerator = "suppressed" if r["suppressed"] else str(r["numerator"])
        shown = "DQ" if r["dq_status"] == "DQ" else ("suppressed" if r["suppressed"] else _percent(r["observed"]))
        rows.append(
            {
                "state": r["state"],
                "denominator": r["denominator"],
                "numerator": numerator,
                "observed": shown,
                "DQ": r.get("dq_reason") or r["dq_status"],
            }
        )
    return table_value(rows, ["state", "denominator", "numerator", "observed", "DQ"])


def _rsp_table(by_state: pl.DataFrame) -> dg.MetadataValue:
    """The data-profile view: observed, RSP with its interval and status per state (percent, 1 dp)."""
    rows = []
    for r in by_state.sort("state").iter_rows(named=True):
        if r["status"] in ("DQ", "suppressed"):
            rows.append(
                {"state": r["state"], **dict.fromkeys(("observed", "RSP", "RSP interval", "status"), r["status"])}
            )
            continue
        interval = "-" if r["rsp_lower"] is None else f"{_percent(r['rsp_lower'])}-{_percent(r['rsp_upper'])}"
        rows.append(
            {
                "state": r["state"],
                "observed": _percent(r["observed"]),
                "RSP": _percent(r["rsp"]),
                "RSP interval": interval,
                "status": r["status"],
            }
        )
    return table_value(rows, ["state", "observed", "RSP", "RSP interval", "status"])


# --- cfsr_rsp -------------------------------------------------------------------------------


@dg.asset(
    name="cfsr_rsp",
    partitions_def=PERIODS,
    deps=["cfsr_recurrence"],
    group_name=GROUP,
    kinds={"duckdb", "scipy"},
    owners=OWNERS,
    description=(
        "Risk-standardized performance per state for one period (CFSR R4 rules, section 4): random-intercept "
        "logistic model over all DQ-passing states with age at initial victimization, RSP = O/E x 9.7%, log-scale "
        "binomial interval, status better / no different / worse against 9.7%, or DQ with no RSP; a state under "
        f"{SUPPRESS_BELOW} children is modelled but published as suppressed (no numerator, rate or RSP). The status "
        "counts per period are plotted under Metadata > Plots."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata=_table_metadata(WAREHOUSE, RSP_TABLE, RSP_SCHEMA),
)
def cfsr_rsp(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.cfsr.report import rsp_explanation, rsp_to_observed
    from cmi_assets.cfsr.rsp import NATIONAL_PERFORMANCE, RSPOptions, risk_standardized_performance

    fy = fy_of_key(context.partition_key)
    with storage.warehouse(read_only=True) as con:
        by_state = read_table(con, BY_STATE_TABLE, "where period_fy = ?", [fy])
    if by_state.is_empty():
        raise dg.Failure(description=f"no cfsr_recurrence for {period_label(fy)}: materialize it first")
    by_state = by_state.drop("period_fy")
    with storage.identified(read_only=True) as con:
        # The model needs state, age group and outcome per child: no IDs are read.
        audit = con.execute(
            f"select STATERR, age_group, in_denominator, recur from {AUDIT_TABLE} where period_fy = ?", [fy]
        ).pl()
    recurrence = RecurrenceResult(by_state=by_state, audit=audit, national=pl.DataFrame(), dq=pl.DataFrame(), fy=fy)
    result = risk_standardized_performance(recurrence, RSPOptions())
    fit = result.fit
    model = pl.DataFrame(
        {
            "period_fy": [fy],
            "period": [period_label(fy)],
            "alpha": [fit.alpha],
            "sigma": [fit.sigma],
            "beta": [json.dumps(fit.beta)],
            "loglik": [fit.loglik],
            "converged": [fit.converged],
            "national_performance": [NATIONAL_PERFORMANCE],
        }
    )
    published = suppress_small_cells(result.by_state, RSP_VALUES, status="status")
    with storage.warehouse() as con:
        replace_partition_rows(con, RSP_TABLE, _with_period(published, fy), "period_fy", fy)
        replace_partition_rows(con, RSP_MODEL_TABLE, model, "period_fy", fy)
    statuses = dict(published.group_by("status").len().sort("status").iter_rows())
    context.log.info(f"{period_label(fy)}: sigma {fit.sigma:.3f}, converged {fit.converged}, statuses {statuses}")

    def states(status: str) -> list[str]:
        return published.filter(pl.col("status") == status)["state"].to_list()

    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": published.height,
            "period": period_label(fy),
            "rsp_to_observed": number(rsp_to_observed(published)),
            "why_rsp_above_observed": dg.MetadataValue.md(rsp_explanation(published, NATIONAL_PERFORMANCE)),
            "rsp_by_state": _rsp_table(published),
            # Numbers, so the UI's Metadata > Plots view charts them across periods.
            **{f"n_states_{status.replace(' ', '_').lower()}": len(states(status)) for status in STATUSES},
            "states_worse": _state_list(states("worse")),
            "states_better": _state_list(states("better")),
            "states_dq": _state_list(states("DQ")),
            "states_suppressed": _state_list(states("suppressed")),
            "model_sigma": round(fit.sigma, 4),
            "model_converged": fit.converged,
        }
    )


# --- cfsr_drilldown -------------------------------------------------------------------------


@dg.asset(
    name="cfsr_drilldown",
    partitions_def=PERIODS,
    deps=["cfsr_recurrence", dg.AssetDep("ncands_child_file", partition_mapping=FILES_USED_BY_PERIODS)],
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    description=(
        "Observed recurrence per state and pooled, by age group, race/ethnicity, sex, county and maltreatment type "
        f"of the initial report, for one period; cells with a denominator under {SUPPRESS_BELOW} are suppressed "
        "(numerator and rate null, flagged). Analysis zone, counts only."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=PERIOD_AUTOMATION,
    metadata=_table_metadata(WAREHOUSE, DRILLDOWN_TABLE, DRILLDOWN_SCHEMA_METADATA),
)
def cfsr_drilldown(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    fy = fy_of_key(context.partition_key)
    with storage.identified(read_only=True) as con:
        audit = con.execute(
            f"select STATERR, CHID, initial_rptid, in_denominator, recur, age_group from {AUDIT_TABLE} "
            "where period_fy = ?",
            [fy],
        ).pl()
        file_t, file_t1 = read_child_file(con, fy), read_child_file(con, fy + 1)
        _require_child_files(fy, {fy: file_t, fy + 1: file_t1})
        records = initial_report_records(file_t, file_t1)
    if audit.is_empty():
        raise dg.Failure(description=f"no cfsr_recurrence audit for {period_label(fy)}: materialize it first")
    children = denominator_children(audit, records)  # IDs dropped here
    with storage.warehouse() as con:
        dq_status = read_table(con, BY_STATE_TABLE, "where period_fy = ?", [fy]).select("state", "dq_status")
        table = drilldown_table(children, dq_status)
        stored = table.select(
            pl.lit(fy, pl.Int64).alias("period_fy"), pl.lit(period_label(fy)).alias("period"), pl.all()
        )
        replace_partition_rows(con, DRILLDOWN_TABLE, stored, "period_fy", fy)
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
            "national": _national_drilldown_table(table),
        }
    )


def _national_drilldown_table(table: pl.DataFrame) -> dg.MetadataValue:
    rows = []
    # Age groups in age order (section 2.2), other dimensions as they come.
    order = {label: i for i, label in enumerate(age_group_labels("six_groups"))}
    national = table.filter((pl.col("state") == "national") & (pl.col("dimension") != "county")).with_row_index("_row")
    national = national.with_columns(
        _order=pl.col("group")
        .replace_strict(order, default=None, return_dtype=pl.Int64)
        .fill_null(pl.col("_row").cast(pl.Int64))
    ).sort("dimension", "_order", maintain_order=True)
    for r in national.iter_rows(named=True):
        numerator = "suppressed" if r["suppressed"] else str(r["numerator"])
        rows.append(
            {
                "dimension": r["dimension"],
                "group": r["group"],
                "denominator": r["denominator"],
                "numerator": numerator,
                "observed": _percent(r["observed"]),
            }
        )
    return table_value(rows, ["dimension", "group", "denominator", "numerator", "observed"])


# --- cfsr_trend -----------------------------------------------------------------------------


@dg.asset(
    name="cfsr_trend",
    deps=["cfsr_rsp", "cfsr_recurrence"],
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    description=(
        "Recurrence over every period computed so far: per state observed rate, RSP, interval and status by "
        "period with the change since the previous published period, and the pooled rate with status counts."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
    metadata=_table_metadata(WAREHOUSE, TREND_TABLE, TREND_SCHEMA),
)
def cfsr_trend(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    with storage.warehouse() as con:
        rsp = read_table(con, RSP_TABLE)
        national = read_table(con, NATIONAL_TABLE)
        if rsp.is_empty():
            raise dg.Failure(description="no period has an RSP yet: materialize cfsr_rsp first")
        trend = state_trend(rsp)
        pooled = national_trend(national.filter(pl.col("period_fy").is_in(rsp["period_fy"].unique().to_list())), rsp)
        replace_table(con, TREND_TABLE, trend)
        replace_table(con, NATIONAL_TREND_TABLE, pooled)
    periods = pooled["period"].to_list()
    waiting = _periods_waiting_for_files(context.instance.get_materialized_partitions(dg.AssetKey("ncands_child_file")))
    context.log.info(f"trend over {len(periods)} periods: {', '.join(periods)}; waiting for files: {waiting}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": trend.height,
            "periods": ", ".join(periods),
            "periods_waiting_for_files": waiting,
            "pooled_observed_by_period": mapping_table(
                {r["period"]: r["observed"] for r in pooled.iter_rows(named=True)}, "period", "pooled observed"
            ),
        }
    )


def _periods_waiting_for_files(loaded_files: set[str]) -> str:
    """Each period partition whose Child Files are not both loaded, with the missing ones."""
    waiting = []
    for key in PERIODS.get_partition_keys():
        fy = fy_of_key(key)
        missing = [fy_key(year) for year in (fy, fy + 1) if fy_key(year) not in loaded_files]
        if missing:
            waiting.append(f"{period_label(fy)} (needs {', '.join(missing)})")
    return "; ".join(waiting) or "none"


# --- cfsr_report ----------------------------------------------------------------------------


@dg.asset(
    name="cfsr_report",
    deps=["cfsr_trend", "cfsr_recurrence"],
    group_name=GROUP,
    kinds={"html", "matplotlib"},
    owners=OWNERS,
    description=(
        "The recurrence data profile: per state, RSP with interval against national performance for each period, "
        "observed numerator and denominator, and the DQ page; a national chart of every state's RSP interval. "
        "HTML files under $CMI_DATA_DIR/reports/cfsr/ (one per state plus national.html). The metadata leads with "
        "the newest period's headline: pooled observed recurrence (a proportion), national performance, the status "
        "counts, and the median state's RSP / observed ratio with why it is above 1 (CFSR R4 rules, section 4.1: "
        "E is the typical state's expected count, u = 0, which lies below the pooled rate). `chart` opens the "
        "national chart (the UI folds any markdown over 1,000 characters, so an image takes one click), `states` "
        "is the table behind it."
    ),
    pool=DUCKDB_WRITE_POOL,
    automation_condition=follow_upstream(),
)
def cfsr_report(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    from cmi_assets.cfsr.report import write_cfsr_report

    paths = storage.storage()
    with storage.warehouse(read_only=True) as con:
        trend, pooled = read_table(con, TREND_TABLE), read_table(con, NATIONAL_TREND_TABLE)
        dq = read_table(con, DQ_TABLE)
    if trend.is_empty():
        raise dg.Failure(description="cfsr.trend is empty: materialize cfsr_trend first")
    dq = dq.filter(pl.col("period_fy").is_in(trend["period_fy"].unique().to_list()))
    out_dir = paths.data_dir.joinpath(*REPORT_SUBDIR)
    report = write_cfsr_report(out_dir, trend, dq, pooled)
    context.log.info(f"wrote {len(report.files)} HTML files to {out_dir}")
    view = report.national
    headline = view.headline
    # Order is display order: the headline first (numbers, so Metadata > Plots charts them
    # across runs), then the chart alone in its entry, so its [Show Markdown] opens the
    # picture and nothing else; tables render inline.
    return dg.MaterializeResult(
        metadata={
            "summary": dg.MetadataValue.md(view.summary),
            "period": headline["period"] or "-",
            "pooled_observed": number(headline["pooled_observed"]),
            "national_performance": headline["national_performance"],
            **{
                f"states_{status}": headline[f"states_{status}"] for status in ("better", "no_different", "worse", "dq")
            },
            "rsp_to_observed": number(headline["rsp_to_observed"]),
            "why_rsp_above_observed": dg.MetadataValue.md(view.explanation),
            "chart": dg.MetadataValue.md(view.chart_markdown()),
            # without the numerator column (in the HTML and in cfsr_rsp), so it fits the UI's value column
            "states": profile_table_value(view.states, drop=("Numerator",)),
            "pooled_by_period": profile_table_value(view.pooled, transpose=True),
            "national_html": dg.MetadataValue.path(str(report.files["national"])),
            "report_dir": dg.MetadataValue.path(str(out_dir)),
            "state_reports": len(report.files) - 1,
            "dagster/row_count": len(report.files),
        }
    )


def profile_table_value(profile, transpose: bool = False, drop: tuple[str, ...] = ()) -> dg.MetadataValue:
    """A report ProfileTable (text cells) as a metadata table; transposed, its first column's
    values become the columns (periods) and the other headers the rows, which keeps a
    table of many measures narrow enough for the UI."""
    rows = [dict(zip(profile.headers, row)) for row in profile.rows]
    if not transpose:
        return table_value(rows, [h for h in profile.headers if h not in drop])
    key = profile.headers[0]
    return transposed({row[key]: {h: row[h] for h in profile.headers[1:]} for row in rows}, measure="measure")
