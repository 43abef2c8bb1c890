"""Builds the long indicator table from the analysis zone (before disclosure control):
every birth cohort and linkage level of the child indicators, and CFSR recurrence by
state."""

from __future__ import annotations

import polars as pl

from cmi_assets.community.indicators import (
    CHILD_INDICATORS,
    INDICATORS,
    RECURRENCE,
    indicator_members,
    load_children,
)
from cmi_assets.community.rates import area_counts, with_rates, with_reliability, with_smoothed_rates
from cmi_assets.community.schema import INDICATOR_COLUMNS, conform, empty
from cmi_assets.publish.disclosure import SUPPRESS_BELOW, protect_indicator_table

STRENGTH = {i.id: i.strength_based for i in INDICATORS}


def _finish(counts: pl.DataFrame) -> pl.DataFrame:
    """Counts -> the table's columns: rates and interval, strength flag, nothing suppressed
    yet, smoothed rate and reliability still to come."""
    out = with_rates(counts).with_columns(
        pl.col("indicator").replace_strict(STRENGTH, return_dtype=pl.Boolean).alias("strength_based"),
        pl.lit(None, pl.Float64).alias("smoothed_rate_per_1000"),
        pl.lit(None, pl.String).alias("reliability"),
        pl.lit(False).alias("suppressed"),
        pl.lit(None, pl.String).alias("suppression_reason"),
    )
    return conform(out, INDICATOR_COLUMNS)


def child_indicator_counts(children: pl.DataFrame, state: str, linkage_level: str, period: str) -> pl.DataFrame:
    """The child indicators of one cohort's child table (indicators.child_table) as table
    rows with counts and rates."""
    members = indicator_members(children, CHILD_INDICATORS)
    if members.is_empty():
        return empty(INDICATOR_COLUMNS)
    counts = area_counts(members, state).with_columns(
        pl.lit(linkage_level).alias("linkage_level"), pl.lit(period).alias("period")
    )
    return _finish(counts)


def recurrence_counts(by_state: pl.DataFrame, linkage_levels: tuple[str, ...]) -> pl.DataFrame:
    """CFSR recurrence (cfsr.recurrence_by_state) as state rows: count the numerator,
    population the denominator, period the CFSR period label. NCANDS is not linked, so the
    same rows stand at every linkage level. Rows the CFSR table already suppressed (no
    numerator) are left out: their counts are not in the analysis zone to protect."""
    if by_state.is_empty():
        return empty(INDICATOR_COLUMNS)
    rows = by_state.filter(pl.col("numerator").is_not_null() & pl.col("denominator").is_not_null())
    frames = [
        rows.select(
            pl.lit(RECURRENCE.id).alias("indicator"),
            pl.lit(level).alias("linkage_level"),
            pl.col("period").cast(pl.String),
            pl.lit("state").alias("geography_level"),
            pl.col("state").alias("geography_code"),
            pl.lit(None, pl.String).alias("parent_code"),
            pl.lit("all").alias("group_type"),
            pl.lit("all").alias("group_value"),
            pl.col("numerator").cast(pl.Int64).alias("count"),
            pl.col("denominator").cast(pl.Int64).alias("population"),
        )
        for level in linkage_levels
    ]
    return _finish(pl.concat(frames))


def indicator_table(
    con,
    state: str,
    birth_years: list[int],
    linkage_levels: tuple[str, ...],
    features: pl.DataFrame,
    recurrence_by_state: pl.DataFrame,
) -> pl.DataFrame:
    """Every indicator, period, area and group before disclosure control. `features`: the
    cohort feature table's rows (cohorts.features: person_key, birth_year, linkage_level
    and indicators.FEATURE_COLUMNS), empty when it is not there."""
    parts = []
    for year in birth_years:
        for level in linkage_levels:
            mine = (
                features.filter((pl.col("birth_year") == year) & (pl.col("linkage_level") == level))
                if not features.is_empty()
                else None
            )
            children = load_children(con, year, level, mine)
            parts.append(child_indicator_counts(children, state, level, str(year)))
    parts.append(recurrence_counts(recurrence_by_state, linkage_levels))
    return pl.concat(parts)


def published_table(before: pl.DataFrame, threshold: int = SUPPRESS_BELOW) -> pl.DataFrame:
    """The project's one disclosure control (publish.disclosure.protect_indicator_table:
    primary and complementary suppression over the table's margins), then the smoothed rate
    and the reliability flag on what is shown."""
    published = protect_indicator_table(before, threshold=threshold)
    return conform(with_reliability(with_smoothed_rates(published)), INDICATOR_COLUMNS)
