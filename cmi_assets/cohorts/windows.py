"""Reference dates, look-back windows and ages: every time rule of the cohort tables lives
here once.

- A child's date of birth is known to the month only in the analysis zone, so the 15th of
  the birth month is the child's `birth_reference_date`: look-back windows end there and
  ages at events without an `age_days` are counted from it (the same holds for adults).
- Prediction is made at 3 months of age (NZ study, para 39 and section 11): registration
  and benefit data count when they exist by `AT_3_MONTHS_DAYS` days of age.
- Histories of parents, caregivers and other children look back five years before the
  birth (NZ study, para 50); family violence and address changes look back one year (Box 1).
- "By age k" means at an age under k years: age_days < k * 365.25, so 730 days is by age 2
  and 731 days is not; events before birth (unborn notifications) are not counted.

Dates are handled as day numbers (days since 1970-01-01, `day()`), which keeps interval
arithmetic plain integer arithmetic.
"""

from __future__ import annotations

import polars as pl

BIRTH_REFERENCE_DAY = 15
AT_3_MONTHS_DAYS = 91
LOOKBACK_5Y_DAYS = 1826  # five years (NZ study, para 50)
LAST_YEAR_DAYS = 365  # "in the last year" / "of the last 12 months" (Box 1)
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = 30.5  # buckets "months of the last 12" (Box 1 family violence)
ADULT_AGE_YEARS = 18  # childhood ends (para 50: history "as a child")


def day(column: str | pl.Expr) -> pl.Expr:
    """A date column as a day number (days since 1970-01-01; null stays null)."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.cast(pl.Int32)


def birth_reference_day(year: str = "birth_year", month: str = "birth_month") -> pl.Expr:
    """Day number of the 15th of the birth month (null when year or month is missing)."""
    return day(pl.date(pl.col(year), pl.col(month), BIRTH_REFERENCE_DAY))


def birth_reference_date(year: str = "birth_year", month: str = "birth_month") -> pl.Expr:
    return pl.date(pl.col(year), pl.col(month), BIRTH_REFERENCE_DAY)


def years_in_days(years: float) -> float:
    return years * DAYS_PER_YEAR


def under_age(age_days: pl.Expr, years: float) -> pl.Expr:
    """Age strictly under `years` (an event 'by age k'); ages before birth are excluded."""
    return (age_days >= 0) & (age_days < years_in_days(years))


def younger_than(age_days: pl.Expr, years: float) -> pl.Expr:
    """Age under `years` without the lower bound (childhood records, other children's ages)."""
    return age_days < years_in_days(years)


def in_window_before(event_day: pl.Expr, reference_day: pl.Expr, days: int) -> pl.Expr:
    """event_day in [reference_day - days, reference_day): the look-back window."""
    return (event_day >= reference_day - days) & (event_day < reference_day)


def overlap_days(start_day: pl.Expr, end_day: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    """Days of the spell [start_day, end_day] (null end = still running) inside [lo, hi)."""
    end = pl.when(end_day.is_null()).then(hi).otherwise(end_day + 1)
    return pl.max_horizontal(pl.min_horizontal(end, hi) - pl.max_horizontal(start_day, lo), pl.lit(0))


def union_days(spells: pl.DataFrame, group: list[str], lo: str, hi: str) -> pl.DataFrame:
    """Days covered by the union of each group's spells inside its window [lo, hi): the
    frame has `start_day`, `end_day` (null = running) and the window columns; overlapping
    spells (two benefits at once, or two people's records merged by linkage) count once.
    Returns group columns + `days`."""
    clipped = spells.select(
        *group,
        pl.max_horizontal("start_day", lo).alias("s"),
        pl.min_horizontal(
            pl.when(pl.col("end_day").is_null()).then(pl.col(hi)).otherwise(pl.col("end_day") + 1), hi
        ).alias("e"),
    ).filter(pl.col("e") > pl.col("s"))
    ordered = clipped.sort([*group, "s"]).with_columns(pl.col("e").cum_max().over(group).alias("_reach"))
    islands = ordered.with_columns(
        (pl.col("_reach").shift(1).over(group).is_null() | (pl.col("s") > pl.col("_reach").shift(1).over(group)))
        .cast(pl.Int32)
        .cum_sum()
        .over(group)
        .alias("_island")
    )
    spans = islands.group_by([*group, "_island"]).agg((pl.col("e").max() - pl.col("s").min()).alias("days"))
    return spans.group_by(group).agg(pl.col("days").sum())


def age_days_at(event_day: pl.Expr, age_days: pl.Expr, reference_day: pl.Expr) -> pl.Expr:
    """Age in days at an event: the recorded `age_days` (computed upstream from the full
    DOB) where present, else days since the birth reference date."""
    return pl.coalesce(age_days, event_day - reference_day)


def month_of_last_year(event_day: pl.Expr, reference_day: pl.Expr) -> pl.Expr:
    """Which of the 12 months before the birth an event falls in (0 = the latest)."""
    return ((reference_day - event_day - 1) // DAYS_PER_MONTH).cast(pl.Int32)
