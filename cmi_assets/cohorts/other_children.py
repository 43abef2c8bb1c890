"""Box 1, other children of the parents and/or caregivers: parenting demands, other
children with care-and-protection history in the last 5 years, family violence (NZ study,
Box 1, footnote 8, para 51). Who the other children are: family.other_children."""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.cp import is_cp_history_record, is_family_violence_record
from cmi_assets.cohorts.windows import (
    LAST_YEAR_DAYS,
    LOOKBACK_5Y_DAYS,
    day,
    in_window_before,
    month_of_last_year,
    younger_than,
)

PARENTING_DEMANDS = ["high demands", "no other children", "other children, not high demands"]
OTHER_CHILDREN_CP_HISTORY = ["yes", "no"]
FAMILY_VIOLENCE = ["no events", "1 of last 12 months", "2+ of last 12 months"]

HIGH_DEMANDS_MIN_OTHER_CHILDREN = 3  # "3 plus other children"
HIGH_DEMANDS_UNDER_AGE_YEARS = 2  # "other children under 2"


def _per_child(children: pl.DataFrame, frame: pl.DataFrame, column: str, default) -> pl.DataFrame:
    return (
        children.select("person_key")
        .join(frame.select("person_key", column), on="person_key", how="left")
        .with_columns(pl.col(column).fill_null(default))
    )


def other_children_counts(children: pl.DataFrame, siblings: pl.DataFrame) -> pl.DataFrame:
    """person_key, n_other_children, other_child_under_2. The count is the larger of the
    linked other children and the registration's "other children born from the same parent
    relationship" (Table 8 note 2: first-time parent status is read from the registration
    as well as from linked births and benefit inclusions)."""
    linked = siblings.group_by("person_key").agg(
        pl.len().alias("n_linked"),
        younger_than(pl.col("ref_day") - pl.col("sibling_ref_day"), HIGH_DEMANDS_UNDER_AGE_YEARS)
        .any()
        .alias("other_child_under_2"),
    )
    return (
        children.select("person_key", "previous_children_same_parents")
        .join(linked, on="person_key", how="left")
        .select(
            "person_key",
            pl.max_horizontal(
                pl.col("n_linked").fill_null(0), pl.col("previous_children_same_parents").fill_null(0)
            ).alias("n_other_children"),
            pl.col("other_child_under_2").fill_null(False),
        )
    )


def parenting_demands_category(
    multiple_birth: pl.Expr, other_child_under_2: pl.Expr, n_other_children: pl.Expr
) -> pl.Expr:
    """high demands (multiple birth child, other children under 2, or 3+ other children) /
    no other children / other children but not high demands."""
    high = multiple_birth | other_child_under_2 | (n_other_children >= HIGH_DEMANDS_MIN_OTHER_CHILDREN)
    return (
        pl.when(high)
        .then(pl.lit(PARENTING_DEMANDS[0]))
        .when(n_other_children == 0)
        .then(pl.lit(PARENTING_DEMANDS[1]))
        .otherwise(pl.lit(PARENTING_DEMANDS[2]))
    )


def parenting_demands(children: pl.DataFrame, siblings: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Parenting demands (high demands - multiple birth child, other children under 2,
    or 3 plus other children / no other children / other children but not high demands)".
    Multiple birth: plurality > 1 on the registration made by 3 months."""
    counts = other_children_counts(children, siblings).join(children.select("person_key", "plurality"), on="person_key")
    return counts.select(
        "person_key",
        parenting_demands_category(
            (pl.col("plurality") > 1).fill_null(False), pl.col("other_child_under_2"), pl.col("n_other_children")
        ).alias("parenting_demands"),
    )


def other_children_cp_history_5y(
    children: pl.DataFrame, siblings: pl.DataFrame, notifications: pl.DataFrame, findings: pl.DataFrame
) -> pl.DataFrame:
    """Box 1 "Other children with care and protection history in the last 5 years (yes / no)":
    a notification in the five years before the birth that is CP history (footnote 8: not
    police FV records alone), or an investigation / assessment started in those years."""
    notes = notifications.filter(is_cp_history_record()).select(
        pl.col("person_key").alias("sibling_key"), day("notification_date").alias("event_day")
    )
    investigations = findings.select(pl.col("person_key").alias("sibling_key"), day("start_date").alias("event_day"))
    hits = (
        siblings.join(pl.concat([notes, investigations]), on="sibling_key")
        .filter(in_window_before(pl.col("event_day"), pl.col("ref_day"), LOOKBACK_5Y_DAYS))
        .select("person_key")
        .unique()
        .with_columns(pl.lit("yes").alias("other_children_cp_history_5y"))
    )
    return _per_child(children, hits, "other_children_cp_history_5y", "no")


def family_violence_months(children: pl.DataFrame, siblings: pl.DataFrame, notifications: pl.DataFrame) -> pl.DataFrame:
    """person_key, fv_months: how many of the 12 months before the birth had a police FV
    notification or contact record for another child (para 51)."""
    fv = notifications.filter(is_family_violence_record()).select(
        pl.col("person_key").alias("sibling_key"), day("notification_date").alias("event_day")
    )
    hits = siblings.join(fv, on="sibling_key").filter(
        in_window_before(pl.col("event_day"), pl.col("ref_day"), LAST_YEAR_DAYS)
    )
    months = hits.group_by("person_key").agg(
        month_of_last_year(pl.col("event_day"), pl.col("ref_day")).n_unique().alias("fv_months")
    )
    return _per_child(children, months, "fv_months", 0)


def family_violence_category(fv_months: pl.Expr) -> pl.Expr:
    return (
        pl.when(fv_months >= 2)
        .then(pl.lit(FAMILY_VIOLENCE[2]))
        .when(fv_months == 1)
        .then(pl.lit(FAMILY_VIOLENCE[1]))
        .otherwise(pl.lit(FAMILY_VIOLENCE[0]))
    )


def family_violence_last_year(
    children: pl.DataFrame, siblings: pl.DataFrame, notifications: pl.DataFrame
) -> pl.DataFrame:
    """Box 1 "Family violence (no events / notification or contact record in 1 of the last
    12 months / notification or contact record 2+ of the last 12 months)", counted over
    the other children's police FV records."""
    months = family_violence_months(children, siblings, notifications)
    return months.select("person_key", family_violence_category(pl.col("fv_months")).alias("family_violence_last_year"))
