"""The CFSR assets of the analyst code location: the trend over every period and the data
profile, built from the counts and rates cfsr_recurrence and cfsr_rsp publish to the
analysis zone. They never read the identified zone (docs/separation.md).

  cfsr_rsp, cfsr_recurrence (assets.py, linker) -> cfsr_trend -> cfsr_report
"""

import dagster as dg
import polars as pl

from cmi_assets.cfsr.published import (
    periods_waiting_for_files,
    profile_by_first_column,
    profile_rows,
)
from cmi_assets.cfsr.report import write_cfsr_report
from cmi_assets.cfsr.tables import (
    DQ_TABLE,
    NATIONAL_TABLE,
    NATIONAL_TREND_TABLE,
    REPORT_SUBDIR,
    RSP_TABLE,
    TREND_TABLE,
    TREND_TABLE_COLUMNS,
)
from cmi_assets.cfsr.trend import national_trend, state_trend
from cmi_assets.defs.cfsr.partitions import PERIODS, fy_key, fy_of_key
from cmi_assets.defs.cfsr.preset import cfsr_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.metadata import mapping_table, number, table_metadata, transposed
from cmi_assets.metadata import table as table_value
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import read_table, replace_table

# --- cfsr_trend -----------------------------------------------------------------------------


@cfsr_asset(
    deps=["cfsr_rsp", "cfsr_recurrence"],
    kinds={"duckdb", "polars"},
    metadata=table_metadata(WAREHOUSE, TREND_TABLE, TREND_TABLE_COLUMNS),
)
def cfsr_trend(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Recurrence over every period computed so far: per state observed rate, RSP, interval and status by
    period with the change since the previous published period, and the pooled rate with status counts."""
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
    loaded = context.instance.get_materialized_partitions(dg.AssetKey("ncands_child_file"))
    waiting = periods_waiting_for_files([fy_of_key(k) for k in PERIODS.get_partition_keys()], loaded, fy_key)
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


# --- cfsr_report ----------------------------------------------------------------------------


@cfsr_asset(
    deps=["cfsr_trend", "cfsr_recurrence"],
    kinds={"html", "matplotlib"},
)
def cfsr_report(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The recurrence data profile: per state, RSP with interval against national performance for each period,
    observed numerator and denominator, and the DQ page; a national chart of every state's RSP interval. HTML
    files under $CMI_DATA_DIR/reports/cfsr/ (one per state plus national.html). The metadata leads with the
    newest period's headline: pooled observed recurrence (a proportion), national performance, the status
    counts, and the median state's RSP / observed ratio with why it is above 1 (CFSR R4 rules, section 4.1: E
    is the typical state's expected count, u = 0, which lies below the pooled rate). `chart` opens the
    national chart (the UI folds any markdown over 1,000 characters, so an image takes one click), `states` is
    the table behind it."""
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
            "states": table_value(*profile_rows(view.states, drop=("Numerator",))),
            "pooled_by_period": transposed(profile_by_first_column(view.pooled), measure="measure"),
            "national_html": dg.MetadataValue.path(str(report.files["national"])),
            "report_dir": dg.MetadataValue.path(str(out_dir)),
            "state_reports": len(report.files) - 1,
            "dagster/row_count": len(report.files),
        }
    )
