"""Incidence rates per 1,000 children of a birth cohort: by source and for the
unduplicated union (a child counted once however many agencies recorded them), overall
and by sex, ethnicity (total response: a child counts in each group they identify with),
deprivation decile and county; the cumulative incidence by age (Kaplan-Meier).

Two measures per age k = 1..5:
- `by_age`: children first recorded before age k, among children followed up to age k
  (cumulative incidence, the published "by age 5" figure);
- `in_year_of_age`: children first recorded at age k - 1 (the age-specific incidence of a
  first record), among the same children.
The interval is the exact (Garwood) Poisson interval of the count, per 1,000 children.
Published cells go through the project's one suppression rule (cfsr/suppression.py): a
population under 11 shows no count, rate or interval; a count of 1 to 10 is hidden the same
way (a small count of a sensitive event identifies children).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from cmi_assets.cfsr.suppression import suppress_small_cells
from cmi_assets.cohorts.windows import DAYS_PER_YEAR, years_in_days
from cmi_assets.incidence.loglinear import garwood_interval
from cmi_assets.incidence.sources import ANY, GROUP_COLUMNS, MAX_AGE_YEARS, SOURCES, first_age_column
from cmi_assets.incidence.survival import kaplan_meier
from cmi_assets.publish.disclosure import SUPPRESS_BELOW

AGES = tuple(range(1, MAX_AGE_YEARS + 1))
MEASURES = ("by_age", "in_year_of_age")
GROUP_TYPES = ("all", *GROUP_COLUMNS)
PER = 1000.0
CURVE_MONTHS = tuple(range(0, 12 * MAX_AGE_YEARS + 1))
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
RATE_VALUES = ("children", "rate_per_1000", "lower_per_1000", "upper_per_1000")
CURVE_VALUES = ("events", "cumulative_incidence", "lower", "upper")


def _grouped(children: pl.DataFrame) -> pl.DataFrame:
    """One row per child and group they belong to (group_type, group)."""
    parts = [children.with_columns(pl.lit("all").alias("group_type"), pl.lit("all").alias("group"))]
    for column in GROUP_COLUMNS:
        values = pl.col(column).cast(pl.String)
        if column == "ethnicity":
            exploded = children.with_columns(values.str.split(";").alias("group")).explode("group")
        else:
            exploded = children.with_columns(values.alias("group"))
        parts.append(exploded.with_columns(pl.lit(column).alias("group_type"), pl.col("group").fill_null("unknown")))
    columns = ["group_type", "group", *[c for c in children.columns if c not in ("group_type", "group")]]
    return pl.concat([part.select(columns) for part in parts], how="vertical_relaxed")


def incidence_rates(children: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """Per group, source (the four and `any`), measure and age: children counted once,
    population, rate per 1,000 and its exact interval, before suppression."""
    grouped = _grouped(children)
    rows = []
    for age in AGES:
        lo_days, hi_days = years_in_days(age - 1), years_in_days(age)
        observed = grouped.filter(pl.col("follow_up_days") >= hi_days)
        for source in (*SOURCES, ANY):
            first = pl.col(first_age_column(source))
            agg = observed.group_by("group_type", "group").agg(
                pl.len().alias("population"),
                (first < hi_days).fill_null(False).sum().alias("by_age"),
                ((first >= lo_days) & (first < hi_days)).fill_null(False).sum().alias("in_year_of_age"),
            )
            for measure in MEASURES:
                rows.append(
                    agg.select(
                        "group_type",
                        "group",
                        pl.lit(source).alias("source"),
                        pl.lit(measure).alias("measure"),
                        pl.lit(age).alias("age"),
                        pl.col(measure).cast(pl.Int64).alias("children"),
                        pl.col("population").cast(pl.Int64),
                    )
                )
    out = pl.concat(rows) if rows else pl.DataFrame()
    if out.is_empty():
        return _empty_rates()
    count = out["children"].to_numpy()
    lower, upper = garwood_interval(count, confidence)
    pop = out["population"].to_numpy().astype(float)
    out = out.with_columns(
        pl.Series("rate_per_1000", PER * count / pop),
        pl.Series("lower_per_1000", PER * lower / pop),
        pl.Series("upper_per_1000", PER * upper / pop),
    )
    order = {g: i for i, g in enumerate(GROUP_TYPES)}
    return out.sort(
        pl.col("group_type").replace_strict(order, return_dtype=pl.Int64), "group", "source", "measure", "age"
    )


def _empty_rates() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "group_type": pl.String,
            "group": pl.String,
            "source": pl.String,
            "measure": pl.String,
            "age": pl.Int32,
            "children": pl.Int64,
            "population": pl.Int64,
            "rate_per_1000": pl.Float64,
            "lower_per_1000": pl.Float64,
            "upper_per_1000": pl.Float64,
        }
    )


def suppress_small_counts(table: pl.DataFrame, values, count: str, population: str) -> pl.DataFrame:
    """The project's rule on the population, and on a count of 1 to 10 (a zero shows)."""
    out = suppress_small_cells(table, values, denominator=population)
    small_count = pl.when(pl.col(count) > 0).then(pl.col(count))
    out = out.with_columns(small_count.alias("_count_shown"))
    out = suppress_small_cells(out, values, denominator="_count_shown", flag="_small_count")
    return out.with_columns((pl.col("suppressed") | pl.col("_small_count")).alias("suppressed")).drop(
        "_count_shown", "_small_count"
    )


def published_rates(rates: pl.DataFrame) -> pl.DataFrame:
    """The rates table as published (small cells suppressed, `suppressed` flag)."""
    return suppress_small_counts(rates, RATE_VALUES, "children", "population")


def cumulative_incidence(children: pl.DataFrame, months: tuple[int, ...] = CURVE_MONTHS) -> pl.DataFrame:
    """Kaplan-Meier cumulative incidence of a first record by age in months, per group and
    source: children (the group), at_risk, events so far, the estimate and its interval."""
    grouped = _grouped(children)
    grid = np.asarray(months, dtype=float) * DAYS_PER_MONTH
    frames = []
    for (group_type, group), part in grouped.group_by("group_type", "group", maintain_order=True):
        follow = part["follow_up_days"].to_numpy().astype(float)
        for source in (*SOURCES, ANY):
            first = part[first_age_column(source)].to_numpy().astype(float)
            recorded = ~np.isnan(first) & (first <= follow)
            time = np.where(recorded, first, follow)
            km = kaplan_meier(time, recorded)
            estimate = km.cumulative_incidence_at(grid)
            lower, upper = km.interval_at(grid)
            at_risk = (time[None, :] >= grid[:, None]).sum(axis=1)
            events = (recorded[None, :] & (time[None, :] <= grid[:, None])).sum(axis=1)
            frames.append(
                pl.DataFrame(
                    {
                        "group_type": [group_type] * len(grid),
                        "group": [group] * len(grid),
                        "source": [source] * len(grid),
                        "age_months": list(months),
                        "children": [part.height] * len(grid),
                        "at_risk": at_risk.astype("int64"),
                        "events": events.astype("int64"),
                        "cumulative_incidence": estimate,
                        "lower": lower,
                        "upper": upper,
                    }
                )
            )
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames)


def published_curves(curves: pl.DataFrame) -> pl.DataFrame:
    return suppress_small_counts(curves, CURVE_VALUES, "events", "children")


def headline_rate(rates: pl.DataFrame, source: str = ANY, age: int = MAX_AGE_YEARS) -> dict:
    """The cohort-wide cumulative rate by `age` of one source: count, population, rate."""
    row = rates.filter(
        (pl.col("group_type") == "all") & (pl.col("source") == source) & (pl.col("measure") == "by_age")
    ).filter(pl.col("age") == age)
    if row.is_empty():
        return {"children": 0, "population": 0, "rate_per_1000": math.nan, "lower": math.nan, "upper": math.nan}
    r = row.row(0, named=True)
    return {
        "children": r["children"],
        "population": r["population"],
        "rate_per_1000": r["rate_per_1000"],
        "lower": r["lower_per_1000"],
        "upper": r["upper_per_1000"],
    }


__all__ = ["SUPPRESS_BELOW", "cumulative_incidence", "incidence_rates", "published_curves", "published_rates"]
