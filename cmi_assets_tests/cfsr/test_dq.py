"""NCANDS data-quality checks for the CFSR R4 recurrence indicator (CFSR R4 rules,
section 3), each check on hand-built files, including its limit boundary."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cmi_assets.cfsr.dq import dq_checks, dq_flagged_records, dq_status_by_state
from cmi_assets.cfsr.recurrence import CHILD_FILE_SCHEMA

D = dt.date
PAIR = "FY2019-FY2020"


def record(state, rptid, chid, subyr, *, rptdt=None, chage=5, dob=None, sex="1", lev="1"):
    return {
        "SUBYR": subyr,
        "STATERR": state,
        "RPTID": rptid,
        "CHID": chid,
        "RPTDT": rptdt or (D(2019, 3, 1) if subyr == 2019 else D(2020, 3, 1)),
        "CHAGE": chage,
        "CHBDATE": dob,
        "CHSEX": sex,
        "MAL1LEV": lev,
        "MALDEATH": "2",
    }


def frame(records: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(records, schema=CHILD_FILE_SCHEMA)


def matched_children(state: str, n: int, *, age_t: int = 5, age_t1: int = 6) -> list[dict]:
    """n children who are victims in both files with consistent sex and age."""
    return [
        row
        for i in range(n)
        for row in (
            record(state, f"T{i}", f"K{i}", 2019, chage=age_t),
            record(state, f"U{i}", f"K{i}", 2020, chage=age_t1),
        )
    ]


def check(table: pl.DataFrame, state: str, number: int, files: str = PAIR) -> tuple:
    row = table.filter((pl.col("state") == state) & (pl.col("check") == number) & (pl.col("files") == files))
    assert row.height == 1
    r = row.row(0, named=True)
    return r["numerator"], r["denominator"], r["result"]


def split(records: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = frame(records)
    return rows.filter(pl.col("SUBYR") == 2019), rows.filter(pl.col("SUBYR") == 2020)


# --- check 1 ----------------------------------------------------------------------------


@pytest.mark.parametrize(("matched", "result"), [(1, "pass"), (0, "fail")])
def test_check_1_fails_below_1_percent_of_victim_ids_matching(matched, result):
    # 100 victims in file 2019; `matched` of them are victims in file 2020 too. 1/100 is
    # exactly 1%: not below the limit.
    rows = [record("AL", f"T{i}", f"K{i}", 2019) for i in range(100)]
    rows += [record("AL", f"U{i}", f"K{i}", 2020) for i in range(matched)]
    rows += [record("AL", "U99", "NEW", 2020)]  # a new child in 2020 does not help
    assert check(dq_checks(*split(rows)), "AL", 1) == (matched, 100, result)


def test_check_1_counts_unique_victims_and_matches_victims_only():
    rows = [
        record("AL", "T1", "K1", 2019),
        record("AL", "T2", "K1", 2019),  # one child, two reports
        record("AL", "T3", "K2", 2019),
        record("AL", "T4", "K3", 2019, lev="5"),  # K3 is no victim in 2019
        record("AL", "U1", "K1", 2020, lev="5"),  # K1 in 2020 but not as a victim
        record("AL", "U2", "K2", 2020),
        record("AL", "U3", "K3", 2020),
    ]
    assert check(dq_checks(*split(rows)), "AL", 1) == (1, 2, "pass")


# --- check 2 ----------------------------------------------------------------------------


@pytest.mark.parametrize(("mismatched", "result"), [(1, "pass"), (2, "fail")])
def test_check_2_fails_above_5_percent_mismatch(mismatched, result):
    # 20 matched IDs; 1/20 is exactly 5% (not above), 2/20 is 10%.
    rows = matched_children("AL", 20)
    for i in range(mismatched):
        rows[2 * i + 1]["CHSEX"] = "2"
    assert check(dq_checks(*split(rows)), "AL", 2) == (mismatched, 20, result)


@pytest.mark.parametrize(
    ("t", "t1", "mismatch"),
    [
        ({"chage": 5}, {"chage": 6, "sex": "2"}, True),  # sex differs
        ({"chage": 5}, {"chage": 4}, True),  # age went down
        ({"chage": 5}, {"chage": 9}, True),  # age up by 4 (> 3)
        ({"chage": 5}, {"chage": 8}, False),  # up by 3: allowed
        ({"chage": 5}, {"chage": 5}, False),  # same age a year later: allowed (difference 0)
        ({"chage": 0, "dob": D(2018, 12, 1)}, {"chage": 1, "dob": D(2018, 11, 1)}, True),  # under 1, DOB differs
        ({"chage": 0, "dob": D(2018, 12, 1)}, {"chage": 1, "dob": D(2018, 12, 1)}, False),
        ({"chage": 0, "dob": D(2018, 12, 1)}, {"chage": 1}, False),  # DOB missing in t+1: not compared
        ({"chage": 3, "dob": D(2015, 6, 1)}, {"chage": 4, "dob": D(2015, 7, 1)}, False),  # over 1: DOB ignored
        ({"chage": 77}, {"chage": 0, "dob": D(2019, 4, 1)}, False),  # unborn counts as age 0
        ({"chage": 99, "dob": D(2014, 1, 1)}, {"chage": 6}, False),  # age filled from DOB: 5 -> 6
    ],
)
def test_check_2_mismatch_rules(t, t1, mismatch):
    rows = [record("AL", "T1", "K1", 2019, **t), record("AL", "U1", "K1", 2020, **t1)]
    assert check(dq_checks(*split(rows)), "AL", 2)[:2] == (int(mismatch), 1)


@pytest.mark.parametrize(
    ("t", "t1"),
    [
        ({"sex": "9"}, {"sex": "2"}),  # sex unknown
        ({"sex": None}, {"sex": "1"}),
        ({"chage": 99}, {"chage": 1}),  # age missing (no DOB to fill it)
        ({"chage": 0}, {"chage": 4, "sex": "2"}),  # under 1 without DOB
    ],
)
def test_check_2_leaves_out_children_without_the_values_it_needs(t, t1):
    rows = [record("AL", "T1", "K1", 2019, **t), record("AL", "U1", "K1", 2020, **t1)]
    rows += matched_children("AL", 1)
    assert check(dq_checks(*split(rows)), "AL", 2) == (0, 1, "pass")


def test_check_2_compares_the_first_victim_record_of_each_file():
    rows = [
        record("AL", "T1", "K1", 2019, rptdt=D(2019, 1, 1), chage=5),
        record("AL", "T2", "K1", 2019, rptdt=D(2019, 2, 1), chage=9, sex="2"),  # later in file t: ignored
        record("AL", "T0", "K1", 2019, rptdt=D(2018, 12, 1), chage=1, lev="5"),  # not a victim: ignored
        record("AL", "U1", "K1", 2020, rptdt=D(2020, 1, 1), chage=6),
    ]
    assert check(dq_checks(*split(rows)), "AL", 2) == (0, 1, "pass")


# --- check 3 ----------------------------------------------------------------------------


@pytest.mark.parametrize(("missing", "result"), [(1, "pass"), (2, "fail")])
def test_check_3_fails_above_5_percent_missing_age(missing, result):
    rows = [record("AL", f"T{i}", f"K{i}", 2019, chage=99 if i < missing else 5) for i in range(20)]
    assert check(dq_checks(frame(rows), None), "AL", 3, "FY2019") == (missing, 20, result)


def test_check_3_counts_unique_victims_whose_age_cannot_be_filled():
    rows = [
        record("AL", "T1", "K1", 2019, chage=None),  # missing
        record("AL", "T2", "K1", 2019, chage=99),  # same child again: counted once
        record("AL", "T3", "K2", 2019, chage=99, dob=D(2012, 1, 1)),  # filled from DOB
        record("AL", "T4", "K3", 2019, chage=77),  # unborn is not missing
        record("AL", "T5", "K4", 2019, chage=99, lev="5"),  # not a victim
        record("AL", "T6", "K5", 2019),
    ]
    assert check(dq_checks(frame(rows), None), "AL", 3, "FY2019") == (1, 4, "fail")


def test_check_3_is_reported_for_each_file_of_the_period():
    rows = matched_children("AL", 19) + [record("AL", "U99", "K99", 2020, chage=99)]
    rows += [record("AL", "U98", "K98", 2020, chage=99)]
    table = dq_checks(*split(rows))
    assert check(table, "AL", 3, "FY2019") == (0, 19, "pass")
    assert check(table, "AL", 3, "FY2020") == (2, 21, "fail")  # 2/21 = 9.5%


# --- the table as a whole ---------------------------------------------------------------


def test_checks_1_and_2_are_blank_without_file_t_plus_1():
    table = dq_checks(frame(matched_children("AL", 3)[::2]), None)
    assert check(table, "AL", 1) == (None, None, None)
    assert check(table, "AL", 2) == (None, None, None)
    assert check(table, "AL", 3, "FY2019") == (0, 3, "pass")
    assert table.filter(pl.col("check") == 3)["files"].to_list() == ["FY2019"]
    assert dq_status_by_state(table).row(0) == ("AL", "pass", None)


def test_table_has_rates_limits_and_state_status():
    rows = matched_children("AL", 4) + [record("AZ", "T1", "K1", 2019), record("AZ", "U1", "K2", 2020)]
    table = dq_checks(*split(rows))
    az_1 = table.filter((pl.col("state") == "AZ") & (pl.col("check") == 1)).row(0, named=True)
    assert (az_1["rate"], az_1["limit"], az_1["fails_when"], az_1["result"]) == (0.0, 0.01, "below", "fail")
    assert table.filter(pl.col("check") == 2)["limit"].unique().to_list() == [0.05]
    status = dq_status_by_state(table)
    assert dict(status.select("state", "dq_status").iter_rows()) == {"AL": "pass", "AZ": "DQ"}
    assert status.filter(pl.col("state") == "AZ")["dq_reason"].item() == "check 1 fails (FY2019-FY2020)"
    # a state with no records in one of the period's files is DQ whatever its checks say
    missing = dq_status_by_state(table, {"FY2019": ["AL", "AZ"], "FY2020": ["AZ"]})
    assert missing.filter(pl.col("state") == "AL").row(0) == ("AL", "DQ", "no records in the FY2020 file")
    assert table.columns == [
        "state",
        "check",
        "check_name",
        "files",
        "numerator",
        "denominator",
        "rate",
        "limit",
        "fails_when",
        "result",
    ]


def test_files_must_be_consecutive_years():
    rows = frame(matched_children("AL", 1))
    with pytest.raises(ValueError, match="one year after"):
        dq_checks(rows.filter(pl.col("SUBYR") == 2019), rows.filter(pl.col("SUBYR") == 2019))
    with pytest.raises(ValueError, match="expected one SUBYR"):
        dq_checks(rows, None)


def test_flagged_records_name_the_reason_per_record():
    rows = [
        record("AL", "T1", "K1", 2019, chage=5),
        record("AL", "T2", "K1", 2019, chage=5, rptdt=D(2019, 5, 1)),
        record("AL", "U1", "K1", 2020, chage=2),  # age went down: every victim record of K1
        record("AL", "T3", "K2", 2019, chage=99),  # missing age
        record("AL", "T4", "K3", 2019, chage=0),  # infant without DOB
        record("AL", "T5", "K4", 2019, chage=0, dob=D(2018, 10, 1)),  # fine
        record("AL", "T6", "K5", 2019, chage=99, lev="5"),  # not a victim: never flagged
    ]
    flagged = dq_flagged_records(*split(rows)).sort("RPTID")
    assert flagged.select("RPTID", "flag_id_mismatch", "flag_missing_age", "flag_infant_without_dob").rows() == [
        ("T1", True, False, False),
        ("T2", True, False, False),
        ("T3", False, True, False),
        ("T4", False, False, True),
        ("U1", True, False, False),
    ]
    without_t1 = dq_flagged_records(frame(rows[:2] + rows[3:]), None)
    assert sorted(without_t1["RPTID"]) == ["T3", "T4"]  # no check 2 without file t+1
