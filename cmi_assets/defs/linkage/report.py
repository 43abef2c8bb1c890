"""The linkage report in the GUILD style (linkage/guild_report.py): link rates by subgroup at
both levels, match-weight histograms, false- and missed-link rates from a clerical sample of
pairs, the effect of the level on headline indicators, and subgroup gaps over 5 points.

It reads the identified zone (records, clusters, scored pairs, review decisions, the
synthetic truth where there is one) and the analysis zone's event tables, and writes counts
and rates only, small cells suppressed, to the analysis zone's `linkage_report` schema.
"""

import dagster as dg
import polars as pl

from cmi_assets.defs.linkage.preset import linkage_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage.guild_report import ALL, REPORT_COLUMNS, REPORT_SCHEMA, build_report, write_report
from cmi_assets.linkage.truth import record_truth_file
from cmi_assets.metadata import frame_table, mapping_table, number, table_metadata
from cmi_assets.storage import WAREHOUSE

REPORT_TABLES = tuple(REPORT_COLUMNS)
GAPS_CHECK = "linkage_report_subgroup_gaps"
GAPS_SHOWN = 10  # the largest flagged gaps in the metadata; the table holds them all


class LinkageReportConfig(dg.Config):
    # Pairs drawn per level from the links and from the pairs not linked, by weight band.
    # About 500 as the NZ study's clerical sample; on a world of a few thousand links this
    # is a large share, which keeps the estimate's error under a percentage point there.
    links_per_level: int = 500
    non_links_per_level: int = 500
    seed: int = 1


@linkage_asset(
    deps=["person_spine", "event_tables"],
    kinds={"duckdb", "polars"},
    metadata=table_metadata(
        WAREHOUSE,
        f"{REPORT_SCHEMA}.*",
        [(f"{table}.{c[0]}", *c[1:]) for table, columns in REPORT_COLUMNS.items() for c in columns],
    ),
    check_specs=[
        dg.AssetCheckSpec(
            GAPS_CHECK,
            asset="linkage_report",
            description="No subgroup's link rate lies more than 5 percentage points from its level's overall rate.",
        )
    ],
)
def linkage_report(
    context: dg.AssetExecutionContext, config: LinkageReportConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """A linkage report in the GUILD style (Gilbert et al. 2018): link rates overall and by source, role, sex,
    age band, ethnicity and deprivation decile at both levels with Clopper-Pearson intervals; match-weight
    histograms of pairs linked and not linked; false- and missed-link rates per weight band from a clerical
    sample of pairs (reviewers' decisions from linkage.review_decisions, else the synthetic truth as the
    reviewer), with the estimated precision per level and its stratified interval; the effect of each level on
    children with a substantiated finding by age 5 per 1,000 and children recorded by more than one incidence
    list; subgroup gaps over 5 points flagged. Counts and rates only, small cells suppressed, in the analysis
    zone's linkage_report schema."""
    truth_file = record_truth_file(storage.storage().truth_dir)
    with storage.warehouse() as warehouse:
        with storage.identified(read_only=True) as identified:
            report = build_report(
                identified, warehouse, truth_file, config.links_per_level, config.non_links_per_level, config.seed
            )
        rows = write_report(warehouse, report)
    headline = report.headline()
    flagged = report.subgroup_gaps.filter("flagged")
    context.log.info(
        "linkage report: "
        + ", ".join(f"{k} {v:.4f}" for k, v in headline.items() if isinstance(v, float))
        + f"; {headline['gaps_over_5_points']} subgroup gaps over 5 points"
    )
    gap_rows = flagged.head(GAPS_SHOWN).select("level", "unit", "group_type", "group_value", "gap_points")
    metadata = {
        **{key: number(value) for key, value in headline.items()},
        "subgroup_gaps": frame_table(gap_rows, digits=3),
        "precision": frame_table(
            report.precision.select("level", "precision", "ci_low", "ci_high", "sampled_links", "links")
        ),
        "linkage_error": frame_table(
            report.linkage_error.filter(pl.col("band") != ALL).select(
                "level", "status", "band", "error_rate", "ci_low", "ci_high"
            )
        ),
        "indicators": frame_table(report.indicators.select("level", "indicator", "count", "population", "per_1000")),
        "labels": mapping_table(report.labels, "label source", "pairs"),
        "sample_design": report.sample_design,
        "rows_by_table": mapping_table(rows, "table", "rows"),
        "dagster/row_count": sum(rows.values()),
    }
    check = dg.AssetCheckResult(
        check_name=GAPS_CHECK,
        passed=flagged.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{flagged.height} subgroup link rates more than 5 percentage points from their overall rate"
            if flagged.height
            else "every shown subgroup link rate within 5 percentage points of its overall rate"
        ),
        metadata={"gaps_over_5_points": flagged.height, "largest_gaps": frame_table(gap_rows, digits=3)},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
