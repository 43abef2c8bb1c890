"""Community indicators as an asset (cmi_assets/community/ is the library; this module
reads, writes and reports):

  event_tables, cohort_features, cfsr_recurrence (analysis zone)
    -> community_indicators   table.indicator_table   (counts, rates, exact intervals)
                              disclosure control      (primary and complementary suppression)
                              rates.with_smoothed_rates, with_reliability (on what is published)

Analysis zone only, schema `community`: `community.indicators` (one long table, nothing
identifying) and `community.indicator_definitions` (what each indicator counts, and the
function that counts it). Unpartitioned: one table for every birth cohort.
"""

import dagster as dg
import polars as pl

from cmi_assets.community.geography import home_state
from cmi_assets.community.indicators import FEATURE_COLUMNS, INDICATORS, definitions_table
from cmi_assets.community.schema import (
    DEFINITION_COLUMNS,
    DEFINITIONS_TABLE,
    INDICATOR_COLUMNS,
    INDICATORS_TABLE,
    conform,
)
from cmi_assets.community.table import indicator_table, published_table
from cmi_assets.defs.cohorts.partitions import BIRTH_YEARS
from cmi_assets.defs.community.checks import margins_check, rates_in_interval_check, small_counts_check
from cmi_assets.defs.community.preset import community_asset
from cmi_assets.defs.resources import StorageResource
from cmi_assets.linkage.tables import LEVELS
from cmi_assets.markdown import markdown_table
from cmi_assets.metadata import frame_table, number, table_metadata
from cmi_assets.publish.disclosure import SUPPRESS_BELOW
from cmi_assets.storage import WAREHOUSE
from cmi_assets.tables import read_table, replace_table, table_exists, transaction

FEATURES_TABLE = "cohorts.features"
RECURRENCE_TABLE = "cfsr.recurrence_by_state"


def definitions_markdown() -> str:
    """Every indicator's definition as a markdown table (the asset's description shows it)."""
    rows = [
        [i.id, i.title, i.denominator, i.unit, "yes" if i.strength_based else "", i.definition()] for i in INDICATORS
    ]
    return markdown_table(["indicator", "title", "denominator", "unit", "strength-based", "definition"], rows)


DESCRIPTION = (
    "Community indicators: one long table of rates per 1,000 children by state, county (5-digit FIPS) and "
    "postcode (where the analysis zone carries one), birth cohort and group (sex, ethnicity, deprivation decile), "
    "at both linkage levels: count, population, rate with its exact Poisson 95% interval, an empirical-Bayes "
    "smoothed rate (Marshall's global Poisson-gamma shrinkage across the areas of a level, postcodes within their "
    "deprivation decile, from published cells), "
    "an NCHS reliability flag (under 20 events or an RSE over 30%: unreliable) and the suppression flag and reason. "
    "CFSR recurrence is by state only (NCANDS Child Files are state files). Tables community.indicators and "
    "community.indicator_definitions.\n\n" + definitions_markdown()
)


def _birth_years(con) -> list[int]:
    if not table_exists(con, "events.birth"):
        return []
    present = {r[0] for r in con.execute("select distinct birth_year from events.birth").fetchall()}
    return sorted(int(y) for y in BIRTH_YEARS.get_partition_keys() if int(y) in present)


def _features(con) -> pl.DataFrame:
    if not table_exists(con, FEATURES_TABLE):
        return pl.DataFrame()
    columns = ", ".join(["person_key", "birth_year", "linkage_level", *FEATURE_COLUMNS])
    return con.execute(f"select {columns} from {FEATURES_TABLE}").pl()


def _headline(published: pl.DataFrame, state: str) -> pl.DataFrame:
    """State rate of every indicator, newest period, conservative linkage."""
    rows = published.filter(
        (pl.col("geography_level") == "state")
        & (pl.col("geography_code") == state)
        & (pl.col("group_type") == "all")
        & (pl.col("linkage_level") == "conservative")
    )
    newest = rows.group_by("indicator").agg(pl.col("period").max())
    return (
        rows.join(newest, on=["indicator", "period"])
        .select("indicator", "period", "count", "population", "rate_per_1000", "reliability")
        .sort("indicator")
    )


@community_asset(
    deps=["event_tables", "cohort_features", "cfsr_recurrence"],
    kinds={"duckdb", "polars"},
    description=DESCRIPTION,
    metadata={
        **table_metadata(WAREHOUSE, INDICATORS_TABLE, INDICATOR_COLUMNS),
        "definitions_table": f"{WAREHOUSE}.{DEFINITIONS_TABLE}",
    },
    check_specs=[
        dg.AssetCheckSpec("margins_hold_before_suppression", asset="community_indicators"),
        dg.AssetCheckSpec("no_small_counts_published", asset="community_indicators"),
        dg.AssetCheckSpec("rates_within_intervals", asset="community_indicators"),
    ],
)
def community_indicators(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    state = home_state()
    with storage.warehouse() as con:
        years = _birth_years(con)
        recurrence = read_table(con, RECURRENCE_TABLE)
        before = indicator_table(con, state, years, LEVELS, _features(con), recurrence)
        published = published_table(before, SUPPRESS_BELOW)
        definitions = conform(definitions_table(), DEFINITION_COLUMNS)
        with transaction(con):
            written = replace_table(con, INDICATORS_TABLE, published)
            replace_table(con, DEFINITIONS_TABLE, definitions)
    context.log.info(
        f"{written} indicator rows for birth years {years[0] if years else '-'}-{years[-1] if years else '-'}"
    )
    counts = published.group_by("reliability").len()
    by_reliability = {r["reliability"]: r["len"] for r in counts.iter_rows(named=True)}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "indicators": published["indicator"].n_unique(),
            "birth_years": f"{years[0]}-{years[-1]}" if years else "none",
            "suppressed_rows": int(published["suppressed"].sum()),
            "unreliable_rows": by_reliability.get("unreliable", 0),
            "reliable_rows": by_reliability.get("reliable", 0),
            "state_rates": frame_table(_headline(published, state)),
            "definitions": dg.MetadataValue.md(definitions_markdown()),
            "smoothed_share": number(float(published["smoothed_rate_per_1000"].is_not_null().mean() or 0.0)),
        },
        check_results=[
            margins_check(before),
            small_counts_check(published, SUPPRESS_BELOW),
            rates_in_interval_check(published),
        ],
    )


COMMUNITY_ASSETS = [community_indicators]
