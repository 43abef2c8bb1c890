"""Long indicator tables (issue 15's contract) aggregated from child-level rows, so every
published margin holds by construction."""

from __future__ import annotations

import polars as pl

STATE = "09"


def long_table(children: pl.DataFrame, indicator: str = "reports", period: str = "2012") -> pl.DataFrame:
    """children: county, postcode, sex, deprivation_decile, event (0/1) -> the long table
    (state, county, postcode x all, sex, deprivation_decile), rates filled."""
    levels = (
        ("state", pl.lit(STATE), pl.lit(None, pl.String)),
        ("county", pl.col("county"), pl.lit(STATE)),
        ("postcode", pl.col("postcode"), pl.col("county")),
    )
    groups = (
        ("all", pl.lit("all")),
        ("sex", pl.col("sex")),
        ("deprivation_decile", pl.col("deprivation_decile").cast(pl.String)),
    )
    parts = []
    for level, code, parent in levels:
        for group_type, value in groups:
            parts.append(
                children.group_by(code.alias("geography_code"), parent.alias("parent_code"), value.alias("group_value"))
                .agg(pl.col("event").sum().cast(pl.Int64).alias("count"), pl.len().cast(pl.Int64).alias("population"))
                .with_columns(pl.lit(level).alias("geography_level"), pl.lit(group_type).alias("group_type"))
            )
    out = pl.concat(parts, how="diagonal_relaxed").with_columns(
        pl.lit(indicator).alias("indicator"),
        pl.lit(False).alias("strength_based"),
        pl.lit("conservative").alias("linkage_level"),
        pl.lit(period).alias("period"),
        (1000.0 * pl.col("count") / pl.col("population")).alias("rate_per_1000"),
    )
    out = out.with_columns(
        pl.col("rate_per_1000").alias("rate_lower"),
        pl.col("rate_per_1000").alias("rate_upper"),
        pl.col("rate_per_1000").alias("smoothed_rate_per_1000"),
        pl.lit("reliable").alias("reliability"),
        pl.lit(None, pl.Boolean).alias("suppressed"),
        pl.lit(None, pl.String).alias("suppression_reason"),
    )
    columns = [
        "indicator", "strength_based", "linkage_level", "period", "geography_level", "geography_code",
        "parent_code", "group_type", "group_value", "count", "population", "rate_per_1000", "rate_lower",
        "rate_upper", "smoothed_rate_per_1000", "reliability", "suppressed", "suppression_reason",
    ]  # fmt: skip
    return out.select(columns).sort("geography_level", "geography_code", "group_type", "group_value")


def children_frame(rows: list[tuple[str, str, str, int, int]]) -> pl.DataFrame:
    """(county, postcode, sex, decile, event) tuples as a frame."""
    return pl.DataFrame(
        rows, schema=["county", "postcode", "sex", "deprivation_decile", "event"], orient="row"
    ).with_columns(pl.col("deprivation_decile").cast(pl.Int64), pl.col("event").cast(pl.Int64))
