"""The long indicator table: per indicator, linkage level, period, area (state, county,
postcode) and group (all, sex, ethnicity, deprivation decile) the count, population,
rate per 1,000 with its exact Poisson interval, the empirical-Bayes smoothed rate and the
NCHS-style reliability flag.

Order of work (community_indicators): `area_counts` -> `with_rates` -> the project's
disclosure control (publish.disclosure.protect_indicator_table) -> `with_smoothed_rates`
and `with_reliability` on what is published. The smoothed rate is computed from published
cells only: its shrinkage uses every area's count (the overall rate and the between-area
variance), so smoothing before suppression would let a reader solve for a hidden count
from the smoothed rates of the areas shown.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from cmi_assets.community.geography import county_code
from cmi_assets.community.smoothing import marshall_global
from cmi_assets.incidence.loglinear import garwood_interval

PER = 1000.0
GROUP_TYPES = ("all", "sex", "ethnicity", "deprivation_decile")
GEOGRAPHY_LEVELS = ("state", "county", "postcode")
UNKNOWN = "unknown"
# NCHS (National Vital Statistics Reports data presentation standards): a rate on fewer
# than 20 events is unreliable; a relative standard error over 30% is flagged.
NCHS_MIN_EVENTS = 20
NCHS_MAX_RSE = 0.30
KEY = ("indicator", "linkage_level", "period", "geography_level", "geography_code", "parent_code", "group_type",
       "group_value")  # fmt: skip
# smoothing pools the areas of one level within one cell of everything else
SMOOTHING_POOL = ("indicator", "linkage_level", "period", "geography_level", "group_type", "group_value")


def _grouped(members: pl.DataFrame) -> pl.DataFrame:
    """One row per member and group it belongs to (ethnicity total response: a child counts
    in each group they identify with)."""
    parts = [members.with_columns(pl.lit("all").alias("group_type"), pl.lit("all").alias("group_value"))]
    for column in GROUP_TYPES[1:]:
        values = pl.col(column).cast(pl.String)
        if column == "ethnicity":
            part = members.with_columns(values.str.split(";").alias("group_value")).explode("group_value")
        else:
            part = members.with_columns(values.alias("group_value"))
        parts.append(part.with_columns(pl.lit(column).alias("group_type"), pl.col("group_value").fill_null(UNKNOWN)))
    return pl.concat(parts, how="diagonal_relaxed")


def area_counts(members: pl.DataFrame, state: str) -> pl.DataFrame:
    """indicator_members of one linkage level and period -> count and population per
    indicator, area and group. Areas: the state, its counties
    (5-digit FIPS), and postcodes where the members carry one."""
    grouped = _grouped(members).with_columns(
        pl.col("county_fips").map_elements(lambda c: county_code(state, c), return_dtype=pl.String).alias("_county")
    )
    levels = [
        grouped.with_columns(
            pl.lit("state").alias("geography_level"),
            pl.lit(state).alias("geography_code"),
            pl.lit(None, pl.String).alias("parent_code"),
        ),
        grouped.with_columns(
            pl.lit("county").alias("geography_level"),
            pl.col("_county").alias("geography_code"),
            pl.lit(state).alias("parent_code"),
        ),
    ]
    if "postcode" in grouped.columns:
        levels.append(
            grouped.filter(pl.col("postcode").is_not_null()).with_columns(
                pl.lit("postcode").alias("geography_level"),
                pl.col("postcode").cast(pl.String).alias("geography_code"),
                pl.col("_county").alias("parent_code"),
            )
        )
    rows = pl.concat(levels, how="diagonal_relaxed")
    area_key = [k for k in KEY if k not in ("linkage_level", "period")]
    return (
        rows.group_by(*area_key)
        .agg(pl.col("counted").sum().cast(pl.Int64).alias("count"), pl.len().cast(pl.Int64).alias("population"))
        .sort(*area_key, nulls_last=False)
    )


def with_rates(counts: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """Rate per 1,000 and its exact (Garwood) Poisson interval, from `count` and
    `population` (incidence.loglinear.garwood_interval)."""
    count = counts["count"].to_numpy().astype(float)
    population = counts["population"].to_numpy().astype(float)
    lower, upper = garwood_interval(count, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(population > 0, PER / population, np.nan)
    return counts.with_columns(
        pl.Series("rate_per_1000", count * scale),
        pl.Series("rate_lower", lower * scale),
        pl.Series("rate_upper", upper * scale),
    )


def area_strata(table: pl.DataFrame) -> pl.DataFrame:
    """The smoothing stratum of every area: its deprivation decile when all its children
    share one (a postcode: the areas file gives each postcode one decile), else "mixed"
    (a county, the state). Read from the deprivation_decile rows' populations, which stay
    published under suppression."""
    area = ["indicator", "linkage_level", "period", "geography_level", "geography_code"]
    deciles = (
        table.filter((pl.col("group_type") == "deprivation_decile") & (pl.col("population") > 0))
        .group_by(area)
        .agg(pl.col("group_value").unique().alias("_deciles"))
    )
    single = (pl.col("_deciles").list.len() == 1) & (pl.col("_deciles").list.first() != UNKNOWN)
    return deciles.select(
        *area, pl.when(single).then(pl.col("_deciles").list.first()).otherwise(pl.lit("mixed")).alias("stratum")
    )


def with_smoothed_rates(table: pl.DataFrame) -> pl.DataFrame:
    """`smoothed_rate_per_1000`: Marshall's global empirical-Bayes rate across the areas of
    one level (within one indicator, linkage level, period and group) and one stratum
    (area_strata: postcodes shrink towards the postcodes of their deprivation decile, as
    Marshall's local estimator shrinks towards an area's neighbours; counties towards all
    counties), from the cells that are not suppressed; null on suppressed cells. A level
    of one area (the state) keeps its own rate."""
    shown = (~pl.col("suppressed").fill_null(False) if "suppressed" in table.columns else pl.lit(True)) & pl.col(
        "count"
    ).is_not_null()
    strata = area_strata(table)
    indexed = (
        table.with_row_index("_row")
        .join(strata, on=list(strata.columns[:-1]), how="left")
        .with_columns(pl.col("stratum").fill_null("mixed"))
    )
    usable = indexed.filter(shown)
    parts = []
    for _, pool in usable.group_by(*SMOOTHING_POOL, "stratum"):
        smoothed = PER * marshall_global(pool["count"].to_numpy(), pool["population"].to_numpy())
        parts.append(pool.select("_row", pl.Series("smoothed_rate_per_1000", smoothed, dtype=pl.Float64)))
    values = (
        pl.concat(parts) if parts else pl.DataFrame(schema={"_row": pl.UInt32, "smoothed_rate_per_1000": pl.Float64})
    )
    out = indexed.drop("smoothed_rate_per_1000", "stratum", strict=False).join(values, on="_row", how="left")
    return out.sort("_row").drop("_row")


def relative_standard_error(count) -> np.ndarray:
    """RSE of a rate on a Poisson count: 1 / sqrt(count); infinite at 0."""
    x = np.asarray(count, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(x > 0, 1 / np.sqrt(np.maximum(x, 1e-300)), math.inf)


def reliability(count: int | None, suppressed: bool) -> str:
    """NCHS: "suppressed" where disclosure control hid the cell, "unreliable" on fewer than
    20 events or a relative standard error over 30%, else "reliable"."""
    if suppressed or count is None:
        return "suppressed"
    if count < NCHS_MIN_EVENTS or relative_standard_error(count) > NCHS_MAX_RSE:
        return "unreliable"
    return "reliable"


def with_reliability(table: pl.DataFrame) -> pl.DataFrame:
    suppressed = table["suppressed"].fill_null(False).to_list() if "suppressed" in table.columns else None
    counts = table["count"].to_list()
    flags = [reliability(c, bool(suppressed[i]) if suppressed else False) for i, c in enumerate(counts)]
    return table.with_columns(pl.Series("reliability", flags, dtype=pl.String))
