"""Ages for the CFSR Round 4 recurrence indicator: whole months from date of birth,
the 18th birthday, unborn children, and the risk-adjustment age groups
(CFSR R4 rules, section 2.2). Every age rule of the indicator lives here.

All functions return polars expressions, so they run vectorised inside the caller's
frame: `frame.with_columns(age_in_months("CHBDATE", "RPTDT"))`.

NCANDS ChAge codes (Child File element #12): 0-21 years, 77 unborn, 99 unknown;
null is treated like 99.
"""

from __future__ import annotations

import polars as pl

# The age groups and ChAge codes are data the generator shares (reference/); the indicator's
# age API names them too.
from cmi_assets.reference.age_groups import AGE_GROUPINGS, AGE_GROUPS, SINGLE_YEAR_AGE_GROUPS, AgeGroup  # noqa: F401
from cmi_assets.reference.ncands_codes import CHAGE_UNBORN, CHAGE_UNKNOWN

MONTHS_AT_18TH_BIRTHDAY = 18 * 12


def _expr(column: pl.Expr | str) -> pl.Expr:
    return pl.col(column) if isinstance(column, str) else column


def age_in_months(dob: pl.Expr | str, report_date: pl.Expr | str) -> pl.Expr:
    """Whole months from `dob` to `report_date` (null when either is null; negative
    when the child is not born yet).

    A month is complete once the day of the month reaches the birth day, so a child
    born on 29 Feb is 18 years (216 months) old on 1 Mar of a non-leap year, and is
    exactly 18 on the report date when that date is the 18th birthday.
    """
    dob, report_date = _expr(dob), _expr(report_date)
    whole_months = (report_date.dt.year().cast(pl.Int32) - dob.dt.year().cast(pl.Int32)) * 12 + (
        report_date.dt.month().cast(pl.Int32) - dob.dt.month().cast(pl.Int32)
    )
    month_not_complete = (report_date.dt.day() < dob.dt.day()).cast(pl.Int32)
    return (whole_months - month_not_complete).alias("age_months")


def chage_is_known_years(chage: pl.Expr | str = "CHAGE") -> pl.Expr:
    """ChAge holds an age in years (0-21), not the unborn/unknown codes or null."""
    chage = _expr(chage)
    return chage.is_not_null() & chage.is_between(0, 21)


def is_missing_age(chage: pl.Expr | str = "CHAGE", dob: pl.Expr | str = "CHBDATE") -> pl.Expr:
    """Age cannot be known: ChAge unknown (99 or null) and no DOB to fill it from.

    NCANDS validation fills ChAge from DOB and report date when DOB exists (DQ check 3,
    section 3), so a record with a DOB never counts as missing age. ChAge 77 (unborn)
    is a known status, not a missing age.
    """
    chage = _expr(chage)
    return (chage.is_null() | (chage == CHAGE_UNKNOWN)) & _expr(dob).is_null()


def is_infant_without_dob(chage: pl.Expr | str = "CHAGE", dob: pl.Expr | str = "CHBDATE") -> pl.Expr:
    """ChAge 0 with no DOB: cannot be split into 0-3 and 4-11 months (section 2.2), and
    such children are left out of DQ check 2 and of the indicator (section 3)."""
    return (_expr(chage) == 0).fill_null(False) & _expr(dob).is_null()


def age_years_filled(
    chage: pl.Expr | str = "CHAGE", dob: pl.Expr | str = "CHBDATE", report_date: pl.Expr | str = "RPTDT"
) -> pl.Expr:
    """Age in years as NCANDS validation leaves it: ChAge when known, else whole years
    from DOB at the report date (DQ check 3, section 3). Unborn (77) counts as 0 so that
    year-to-year differences stay meaningful (DQ check 2). Null when unknown."""
    chage = _expr(chage)
    from_dob = age_in_months(dob, report_date) // 12
    return (
        pl.when(chage == CHAGE_UNBORN)
        .then(pl.lit(0, dtype=pl.Int32))
        .when(chage_is_known_years(chage))
        .then(chage.cast(pl.Int32))
        .otherwise(from_dob.cast(pl.Int32))
        .alias("age_years")
    )


def is_18_or_older(
    chage: pl.Expr | str = "CHAGE", dob: pl.Expr | str = "CHBDATE", report_date: pl.Expr | str = "RPTDT"
) -> pl.Expr:
    """Out of scope as an adult at this report: ChAge > 17 (a real age, not 77/99), or
    DOB + 18 years <= report date (section 2.1 step 6). Either source is enough."""
    chage = _expr(chage)
    by_chage = (chage_is_known_years(chage) & (chage > 17)).fill_null(False)
    by_dob = (age_in_months(dob, report_date) >= MONTHS_AT_18TH_BIRTHDAY).fill_null(False)
    return by_chage | by_dob


def is_unborn(
    chage: pl.Expr | str = "CHAGE", dob: pl.Expr | str = "CHBDATE", report_date: pl.Expr | str = "RPTDT"
) -> pl.Expr:
    """Unborn at the report: ChAge 77, or DOB after the report date (section 2.1 step 8)."""
    by_chage = (_expr(chage) == CHAGE_UNBORN).fill_null(False)
    by_dob = (_expr(dob) > _expr(report_date)).fill_null(False)
    return by_chage | by_dob


def age_months_for_grouping(
    chage: pl.Expr | str = "CHAGE", dob: pl.Expr | str = "CHBDATE", report_date: pl.Expr | str = "RPTDT"
) -> pl.Expr:
    """Age at a report in months for the risk-adjustment groups (section 2.2): whole
    months from DOB; without a DOB, ChAge years x 12. Null when the group cannot be
    set: no DOB and ChAge 0 (cannot split 0-3 from 4-11 months), unknown or unborn."""
    chage = _expr(chage)
    from_chage = pl.when(chage_is_known_years(chage) & (chage >= 1)).then(chage.cast(pl.Int32) * 12)
    return (
        pl.when(_expr(dob).is_not_null())
        .then(age_in_months(dob, report_date))
        .otherwise(from_chage)
        .alias("age_months")
    )


def age_group(age_months: pl.Expr | str = "age_months", grouping: str = "six_groups") -> pl.Expr:
    """The age-group label for an age in months, or null outside [0, 216) months.

    `grouping` is "six_groups" (default, section 2.2) or "single_years" (Round 3's
    AgeMosyrs; unconfirmed whether Round 4 uses it)."""
    if grouping not in AGE_GROUPINGS:
        raise ValueError(f"unknown age grouping {grouping!r}; use one of {sorted(AGE_GROUPINGS)}")
    months = _expr(age_months)
    label: pl.Expr | pl.When | pl.Then = pl
    for group in AGE_GROUPINGS[grouping]:
        label = label.when((months >= group.lo_months) & (months < group.hi_months)).then(pl.lit(group.label))
    return label.otherwise(pl.lit(None, dtype=pl.String)).alias("age_group")


def age_group_labels(grouping: str = "six_groups") -> list[str]:
    """Labels in age order (for ordered categoricals, model design and reports)."""
    return [group.label for group in AGE_GROUPINGS[grouping]]
