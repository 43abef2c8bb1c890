"""Ages for the CFSR R4 recurrence indicator (CFSR R4 rules, section 2.2; section 2.1
steps 6 and 8), checked against hand-worked dates and an independent month counter."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import polars as pl
import pytest

from cmi_assets.cfsr.ages import (
    AGE_GROUPS,
    SINGLE_YEAR_AGE_GROUPS,
    age_group,
    age_group_labels,
    age_in_months,
    age_months_for_grouping,
    age_years_filled,
    is_18_or_older,
    is_infant_without_dob,
    is_missing_age,
    is_unborn,
)

D = dt.date


def months_between(dob: dt.date | None, report: dt.date | None):
    frame = pl.DataFrame({"dob": [dob], "rpt": [report]}, schema={"dob": pl.Date, "rpt": pl.Date})
    return frame.select(age_in_months("dob", "rpt")).item()


@pytest.mark.parametrize(
    ("dob", "report", "months"),
    [
        (D(2018, 1, 15), D(2018, 1, 15), 0),
        (D(2018, 1, 15), D(2018, 2, 14), 0),
        (D(2018, 1, 15), D(2018, 2, 15), 1),
        (D(2018, 1, 15), D(2019, 1, 14), 11),
        (D(2018, 1, 15), D(2019, 1, 15), 12),
        (D(2000, 1, 31), D(2000, 2, 29), 0),  # no 31 Feb: the month completes on 1 Mar
        (D(2000, 1, 31), D(2000, 3, 1), 1),
        (D(2004, 2, 29), D(2022, 2, 28), 215),  # leap-day birth: 18 on 1 Mar
        (D(2004, 2, 29), D(2022, 3, 1), 216),
        (D(2001, 3, 15), D(2019, 3, 15), 216),  # the 18th birthday itself
        (D(2019, 2, 20), D(2019, 1, 10), -2),  # not born yet: negative
        (None, D(2019, 1, 10), None),
    ],
)
def test_age_in_months_hand_worked(dob, report, months):
    assert months_between(dob, report) == months


def _whole_months_by_counting(dob: dt.date, report: dt.date) -> int:
    """Independent oracle: the largest m whose m-th monthly anniversary is on or before
    the report date; an anniversary on a day the month lacks falls on the 1st of the
    next month."""

    def anniversary(m: int) -> dt.date:
        year, month0 = divmod(dob.month - 1 + m, 12)
        year += dob.year
        if dob.day > calendar.monthrange(year, month0 + 1)[1]:
            return D(year + (month0 + 1) // 12, (month0 + 1) % 12 + 1, 1)
        return D(year, month0 + 1, dob.day)

    m = 0
    while anniversary(m + 1) <= report:
        m += 1
    return m


def test_age_in_months_matches_month_counting_on_random_dates():
    rng = np.random.default_rng(11)
    epoch = D(1995, 1, 1)
    dobs = [epoch + dt.timedelta(days=int(d)) for d in rng.integers(0, 9000, size=400)]
    reports = [dob + dt.timedelta(days=int(d)) for dob, d in zip(dobs, rng.integers(0, 7000, size=400))]
    got = pl.DataFrame({"dob": dobs, "rpt": reports}).select(age_in_months("dob", "rpt")).to_series().to_list()
    assert got == [_whole_months_by_counting(dob, rpt) for dob, rpt in zip(dobs, reports)]


def test_six_age_groups_tile_0_to_216_months():
    assert [g.label for g in AGE_GROUPS] == ["0-3 mo", "4-11 mo", "1-5 y", "6-10 y", "11-16 y", "17 y"]
    for grouping in (AGE_GROUPS, SINGLE_YEAR_AGE_GROUPS):
        assert grouping[0].lo_months == 0 and grouping[-1].hi_months == 216
        assert all(a.hi_months == b.lo_months for a, b in zip(grouping, grouping[1:]))
    assert len(SINGLE_YEAR_AGE_GROUPS) == 19  # 0-3 mo, 4-11 mo, 1 y .. 17 y (Round 3 AgeMosyrs)


@pytest.mark.parametrize(
    ("months", "six", "single"),
    [
        (0, "0-3 mo", "0-3 mo"),
        (3, "0-3 mo", "0-3 mo"),
        (4, "4-11 mo", "4-11 mo"),
        (11, "4-11 mo", "4-11 mo"),
        (12, "1-5 y", "1 y"),
        (71, "1-5 y", "5 y"),
        (72, "6-10 y", "6 y"),
        (131, "6-10 y", "10 y"),
        (132, "11-16 y", "11 y"),
        (203, "11-16 y", "16 y"),
        (204, "17 y", "17 y"),
        (215, "17 y", "17 y"),
        (216, None, None),
        (-1, None, None),
        (None, None, None),
    ],
)
def test_age_group_boundaries(months, six, single):
    frame = pl.DataFrame({"age_months": [months]}, schema={"age_months": pl.Int32})
    assert frame.select(age_group("age_months")).item() == six
    assert frame.select(age_group("age_months", "single_years")).item() == single


def test_age_group_labels_are_in_age_order_and_unknown_grouping_is_refused():
    assert age_group_labels() == [g.label for g in AGE_GROUPS]
    assert age_group_labels("single_years")[2:4] == ["1 y", "2 y"]
    with pytest.raises(ValueError, match="age grouping"):
        age_group("age_months", "five_groups")


CASES = pl.DataFrame(
    {
        "CHAGE": [5, 0, 0, 99, None, 77, 17, 18, 99, 17],
        "CHBDATE": [
            None,
            None,
            D(2018, 9, 10),
            None,
            D(2010, 5, 5),
            None,
            D(2001, 3, 15),
            None,
            D(2019, 1, 11),
            D(2001, 3, 16),
        ],
        "RPTDT": [D(2019, 1, 10)] * 6 + [D(2019, 3, 15), D(2019, 1, 10), D(2019, 1, 10), D(2019, 3, 15)],
    },
    schema={"CHAGE": pl.Int64, "CHBDATE": pl.Date, "RPTDT": pl.Date},
)


def _on_cases(expr: pl.Expr) -> list:
    return CASES.select(expr).to_series().to_list()


def test_missing_age_is_unknown_chage_without_dob():
    # ChAge 99 or null with no DOB; a DOB lets NCANDS fill the age; 77 is a known status.
    assert _on_cases(is_missing_age()) == [False, False, False, True, False, False, False, False, False, False]


def test_infant_without_dob_is_chage_0_and_no_dob():
    assert _on_cases(is_infant_without_dob()) == [False, True, False, False, False, False, False, False, False, False]


def test_age_years_filled_from_dob_when_chage_unknown():
    # Row 5: ChAge null, DOB 2010-05-05 at 2019-01-10 -> 8; row 6: unborn counts as 0;
    # row 9: ChAge 99 and DOB after the report -> negative whole years (-1).
    assert _on_cases(age_years_filled()) == [5, 0, 0, None, 8, 0, 17, 18, -1, 17]


def test_18_or_older_by_chage_or_by_dob():
    # Row 7: ChAge 17 but the report is on the 18th birthday; row 8: ChAge 18, no DOB;
    # row 10: one day short of 18.
    assert _on_cases(is_18_or_older()) == [False, False, False, False, False, False, True, True, False, False]


def test_unborn_by_chage_77_or_dob_after_report():
    assert _on_cases(is_unborn()) == [False, False, False, False, False, True, False, False, True, False]


def test_age_months_for_grouping_prefers_dob_then_chage_years():
    # ChAge 5 -> 60; ChAge 0 without DOB -> cannot group; DOB 2018-09-10 -> 4 months;
    # unknown -> null; DOB 2010-05-05 -> 104; unborn without DOB -> null.
    assert _on_cases(age_months_for_grouping())[:6] == [60, None, 4, None, 104, None]
