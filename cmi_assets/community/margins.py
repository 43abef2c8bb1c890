"""The published margins of the indicator table (the contract every table user relies on,
and the constraints disclosure control protects): within one indicator, linkage level,
period and area the sex and deprivation-decile groups sum to the "all" row (ethnicity is
total response and does not); within one indicator, linkage level, period and group the
counties sum to the state and the postcodes of a county to that county."""

from __future__ import annotations

import polars as pl

ADDITIVE_GROUPS = ("sex", "deprivation_decile")
VALUES = ("count", "population")
CELL = ("indicator", "linkage_level", "period")


def _compare(parts: pl.DataFrame, totals: pl.DataFrame, on: list[str], margin: str) -> pl.DataFrame:
    summed = parts.group_by(on).agg([pl.col(v).sum().alias(f"{v}_parts") for v in VALUES])
    joined = totals.select(*on, *VALUES).join(summed, on=on, how="inner")
    wrong = pl.any_horizontal([pl.col(v) != pl.col(f"{v}_parts") for v in VALUES])
    return joined.filter(wrong).with_columns(pl.lit(margin).alias("margin"))


def margin_violations(table: pl.DataFrame) -> pl.DataFrame:
    """Every total that its parts do not add up to (empty when the margins hold): the
    margin, the total's key, its count and population and the parts' sums. Run on the
    table before suppression (suppressed counts are null)."""
    frames = []
    area = [*CELL, "geography_level", "geography_code"]
    totals = table.filter(pl.col("group_type") == "all")
    for group in ADDITIVE_GROUPS:
        parts = table.filter(pl.col("group_type") == group)
        frames.append(_compare(parts, totals, area, f"{group} groups sum to all"))
    group = [*CELL, "group_type", "group_value"]
    states = table.filter(pl.col("geography_level") == "state").rename({"geography_code": "_parent"})
    counties = table.filter(pl.col("geography_level") == "county")
    frames.append(
        _compare(counties.rename({"parent_code": "_parent"}), states, [*group, "_parent"], "counties sum to the state")
    )
    postcodes = table.filter(pl.col("geography_level") == "postcode").rename({"parent_code": "_parent"})
    if not postcodes.is_empty():
        frames.append(
            _compare(
                postcodes,
                counties.rename({"geography_code": "_parent"}),
                [*group, "_parent"],
                "postcodes sum to their county",
            )
        )
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
