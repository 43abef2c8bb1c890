"""Two pandas implementations of the CFSR R4 recurrence rules (default options of
cmi_assets.cfsr.recurrence: dictionary 14-day rule, same-incident records dropped,
later submission kept, DQ-flagged children dropped), written independently of the
polars engine as the baselines of benchmarks/bench_cfsr.py and as cross-checks of its
numerators and denominators.

    recurrence_counts_pandas_vectorised(file_t, file_t1, fy)      -> DataFrame[state, denominator, numerator, dq_status]
    recurrence_counts_pandas_straightforward(file_t, file_t1, fy) -> the same

`recurrence_counts_pandas_vectorised` is an expert's version: every rule is a column
operation, merge or drop_duplicates over all children at once.

`recurrence_counts_pandas_straightforward` is what an analyst writes by following
section 2.1 literally: load both files, keep victim records, apply the DQ drops, then
loop over the children (groupby on state + child ID) and walk each child's records in
date order in plain Python (window start, age filter, initial victimization, unborn
exclusion, 14-day rule, same-incident rule, 365-day window) to decide whether the child
is in the denominator and whether it recurs. It is the baseline the issue's "10x faster
than a straightforward pandas implementation" is judged against.

Both share the loading steps (victim rule, DQ checks 1-3 and their flagged children,
step 2 de-duplication, step 4 drop) and the result table; they differ in steps 5-11.

Inputs are pandas frames with the Child File columns of CHILD_FILE_SCHEMA (dates as
datetime64, CHAGE an integer or float column, codes as strings).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEY = ["STATERR", "CHID"]
RECORD = ["STATERR", "RPTID", "CHID"]
LEVELS = ["MAL1LEV", "MAL2LEV", "MAL3LEV", "MAL4LEV"]
SAME_REPORT_DAYS = 14  # step 9
RECURRENCE_WINDOW_DAYS = 365  # step 11
MONTHS_AT_18 = 216  # step 6 and the upper end of the age groups (section 2.2)
CHAGE_UNBORN = 77

RESULT_COLUMNS = ["state", "denominator", "numerator", "dq_status"]


def cohort_dates(fy: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of cohort FY `fy`: 10/1/(fy-1) and 9/30/fy."""
    return pd.Timestamp(fy - 1, 10, 1), pd.Timestamp(fy, 9, 30)


# --- shared helpers ------------------------------------------------------------------


def _months(dob: pd.Series, day: pd.Series) -> pd.Series:
    """Whole months from dob to day (float, NaN when either is missing)."""
    months = (day.dt.year - dob.dt.year) * 12 + (day.dt.month - dob.dt.month) - (day.dt.day < dob.dt.day)
    return months.astype("float64")


def _chage_years(chage: pd.Series) -> pd.Series:
    """ChAge when it is an age in years (0-21), else NaN."""
    values = chage.astype("float64")
    return values.where((values >= 0) & (values <= 21))


def _victims(frame: pd.DataFrame) -> pd.DataFrame:
    victim = frame[LEVELS].isin(["1", "2"]).any(axis=1) | (frame["MALDEATH"] == "1")
    return frame[victim.fillna(False).astype(bool)]


def _missing_age(frame: pd.DataFrame) -> pd.Series:
    chage = frame["CHAGE"].astype("float64")
    return (chage.isna() | (chage == 99)) & frame["CHBDATE"].isna()


def _infant_without_dob(frame: pd.DataFrame) -> pd.Series:
    return (frame["CHAGE"].astype("float64") == 0) & frame["CHBDATE"].isna()


def _first_record(victims: pd.DataFrame) -> pd.DataFrame:
    return victims.sort_values([*KEY, "RPTDT", "RPTID"]).drop_duplicates(KEY, keep="first")


def _age_years(frame: pd.DataFrame) -> pd.Series:
    chage = frame["CHAGE"].astype("float64")
    from_dob = np.floor(_months(frame["CHBDATE"], frame["RPTDT"]) / 12)
    return pd.Series(
        np.where(chage == 77, 0.0, np.where(_chage_years(chage).notna(), chage, from_dob)), index=frame.index
    )


def _rate_result(numerator: pd.Series, denominator: pd.Series, limit: float, below: bool) -> pd.Series:
    rate = numerator / denominator.where(denominator > 0)
    fails = rate < limit if below else rate > limit
    return pd.Series(np.where(rate.isna(), "none", np.where(fails, "fail", "pass")), index=rate.index)


def dq_status_and_flags(victims_t: pd.DataFrame, victims_t1: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """DQ checks 1-3 per state (pass/DQ) and the children to drop (CFSR R4 rules, section 3)."""
    states = pd.Index(sorted(set(victims_t["STATERR"]) | set(victims_t1["STATERR"])), name="STATERR")
    children_t = victims_t[KEY].drop_duplicates()
    children_t1 = victims_t1[KEY].drop_duplicates().assign(matched=True)
    check_1 = children_t.merge(children_t1, on=KEY, how="left").fillna({"matched": False})
    check_1 = (
        check_1.groupby("STATERR").agg(den=("matched", "size"), num=("matched", "sum")).reindex(states, fill_value=0)
    )
    results = [_rate_result(check_1["num"], check_1["den"], 0.01, below=True)]

    def firsts(victims, suffix):
        first = _first_record(victims)
        return pd.DataFrame(
            {
                "STATERR": first["STATERR"],
                "CHID": first["CHID"],
                f"sex{suffix}": first["CHSEX"],
                f"dob{suffix}": first["CHBDATE"],
                f"age{suffix}": _age_years(first),
            }
        )

    infants = pd.concat([victims_t[_infant_without_dob(victims_t)], victims_t1[_infant_without_dob(victims_t1)]])
    infants = infants[KEY].drop_duplicates().assign(infant=True)
    pairs = firsts(victims_t, "_t").merge(firsts(victims_t1, "_t1"), on=KEY).merge(infants, on=KEY, how="left")
    eligible = (
        pairs["sex_t"].isin(["1", "2"])
        & pairs["sex_t1"].isin(["1", "2"])
        & pairs["age_t"].notna()
        & pairs["age_t1"].notna()
        & pairs["infant"].isna()
    )
    change = pairs["age_t1"] - pairs["age_t"]
    dob_differs = (
        (pairs["age_t"] < 1) & pairs["dob_t"].notna() & pairs["dob_t1"].notna() & (pairs["dob_t"] != pairs["dob_t1"])
    )
    mismatch = eligible & ((pairs["sex_t"] != pairs["sex_t1"]) | dob_differs | (change < 0) | (change > 3))
    pairs = pairs.assign(eligible=eligible, mismatch=mismatch)
    check_2 = pairs[pairs["eligible"]].groupby("STATERR").agg(den=("mismatch", "size"), num=("mismatch", "sum"))
    check_2 = check_2.reindex(states, fill_value=0)
    results.append(_rate_result(check_2["num"], check_2["den"], 0.05, below=False))
    for victims in (victims_t, victims_t1):
        per_child = victims.assign(missing=_missing_age(victims)).groupby(KEY, as_index=False)["missing"].any()
        check_3 = (
            per_child.groupby("STATERR")
            .agg(den=("missing", "size"), num=("missing", "sum"))
            .reindex(states, fill_value=0)
        )
        results.append(_rate_result(check_3["num"], check_3["den"], 0.05, below=False))
    failed = pd.concat(results, axis=1).eq("fail").any(axis=1)
    dq_status = pd.Series(np.where(failed, "DQ", "pass"), index=states)

    victims = pd.concat([victims_t, victims_t1])
    # step 4 drops children whose ID fails check 2; a missing age or age 0 without DOB
    # excludes a child only at its initial report (its age group, step 8)
    flagged = pairs.loc[pairs["mismatch"], KEY].drop_duplicates()
    return dq_status, flagged


def victims_after_dq(file_t: pd.DataFrame, file_t1: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Steps 1-4, shared by both implementations: (victim records of both files with
    one copy per report-child pair and the DQ-flagged children dropped, DQ status per
    state, all states of the files)."""
    victims_t, victims_t1 = _victims(file_t), _victims(file_t1)
    dq_status, flagged = dq_status_and_flags(victims_t, victims_t1)
    # Step 2: a report-child pair in both files keeps the file t+1 copy.
    in_later = (
        file_t.merge(file_t1[RECORD].drop_duplicates(), on=RECORD, how="left", indicator=True)["_merge"] == "both"
    )
    records = pd.concat([file_t1, file_t[~in_later.to_numpy()]], ignore_index=True)
    victims = _victims(records)
    # Step 4: drop flagged children.
    victims = victims.merge(flagged.assign(flag=True), on=KEY, how="left")
    victims = victims[victims["flag"].isna()].drop(columns="flag")
    return victims, dq_status, sorted(set(records["STATERR"]))


def result_table(counts: pd.DataFrame, states: list[str], dq_status: pd.Series) -> pd.DataFrame:
    """One row per state of the files: denominator, numerator (0 when no child) and DQ status."""
    counts = counts.reindex(states, fill_value=0)
    counts["dq_status"] = dq_status.reindex(states).fillna("pass")
    table = counts.rename_axis("state").reset_index().astype({"denominator": "int64", "numerator": "int64"})
    return table[RESULT_COLUMNS]


# --- the expert version: vectorised -----------------------------------------------------


def recurrence_counts_pandas_vectorised(file_t: pd.DataFrame, file_t1: pd.DataFrame, fy: int) -> pd.DataFrame:
    """Denominator, numerator and DQ status per state for cohort FY `fy` (section 2.1),
    every rule as a whole-frame operation."""
    window_start, period_end = cohort_dates(fy)
    victims, dq_status, states = victims_after_dq(file_t, file_t1)
    # Steps 5-6.
    victims = victims[victims["RPTDT"] >= window_start]
    adult = (_chage_years(victims["CHAGE"]) > 17) | (_months(victims["CHBDATE"], victims["RPTDT"]) >= MONTHS_AT_18)
    victims = victims[~adult.fillna(False).astype(bool)]
    # Step 7: the earliest record per child.
    victims = victims.sort_values([*KEY, "RPTDT", "RPTID"])
    initial = victims.drop_duplicates(KEY, keep="first")
    initial = initial[initial["RPTDT"] <= period_end]
    # Step 8 and section 2.2: unborn children and children without an age group.
    chage = initial["CHAGE"].astype("float64")
    unborn = (chage == CHAGE_UNBORN) | (initial["CHBDATE"] > initial["RPTDT"])
    months = _months(initial["CHBDATE"], initial["RPTDT"])
    from_chage = _chage_years(chage).where(chage >= 1) * 12
    months = months.where(initial["CHBDATE"].notna(), from_chage)
    has_group = (months >= 0) & (months < MONTHS_AT_18)
    cohort = initial[~unborn.fillna(False).astype(bool) & has_group][[*KEY, "RPTID", "RPTDT", "INCIDDT"]]
    cohort = cohort.rename(columns={"RPTID": "first_rptid", "RPTDT": "first_rptdt", "INCIDDT": "first_inciddt"})
    # Steps 9-11: later records of the cohort's children.
    later = victims.merge(cohort, on=KEY)
    later = later[~((later["RPTID"] == later["first_rptid"]) & (later["RPTDT"] == later["first_rptdt"]))]
    days = (later["RPTDT"] - later["first_rptdt"]).dt.days
    same_incident = (
        later["INCIDDT"].notna() & later["first_inciddt"].notna() & (later["INCIDDT"] == later["first_inciddt"])
    )
    counted = (days > SAME_REPORT_DAYS) & (days <= RECURRENCE_WINDOW_DAYS) & ~same_incident
    recurring = later[counted.to_numpy()][KEY].drop_duplicates().assign(recur=True)
    cohort = cohort.merge(recurring, on=KEY, how="left")
    cohort["recur"] = cohort["recur"].fillna(False).astype(bool)
    counts = cohort.groupby("STATERR").agg(denominator=("recur", "size"), numerator=("recur", "sum"))
    return result_table(counts, states, dq_status)


# --- the analyst's version: a Python loop over children ----------------------------------


def _known(value) -> bool:
    return not pd.isna(value)


def _whole_months(dob: pd.Timestamp, day: pd.Timestamp) -> int:
    """Whole months from dob to day (a month is complete once the day of the month
    reaches the birth day)."""
    return (day.year - dob.year) * 12 + (day.month - dob.month) - (day.day < dob.day)


def _chage_in_years(chage) -> int | None:
    """ChAge when it is an age in years (0-21), else None (77 unborn, 99 unknown, missing)."""
    if _known(chage) and 0 <= chage <= 21:
        return int(chage)
    return None


def _is_adult(record) -> bool:
    """Step 6: ChAge > 17, or DOB + 18 years <= RptDt."""
    years = _chage_in_years(record.CHAGE)
    if years is not None and years > 17:
        return True
    return _known(record.CHBDATE) and _whole_months(record.CHBDATE, record.RPTDT) >= MONTHS_AT_18


def _is_unborn(record) -> bool:
    """Step 8: ChAge 77, or DOB after the report date."""
    if _known(record.CHAGE) and record.CHAGE == CHAGE_UNBORN:
        return True
    return _known(record.CHBDATE) and record.CHBDATE > record.RPTDT


def _has_age_group(record) -> bool:
    """Section 2.2: months from DOB, else ChAge years x 12 (ChAge 0 without a DOB cannot
    be split into 0-3 and 4-11 months); a group exists for 0 <= months < 216."""
    if _known(record.CHBDATE):
        months = _whole_months(record.CHBDATE, record.RPTDT)
    else:
        years = _chage_in_years(record.CHAGE)
        if years is None or years < 1:
            return False
        months = years * 12
    return 0 <= months < MONTHS_AT_18


def child_outcome(records, window_start: pd.Timestamp, period_end: pd.Timestamp) -> tuple[bool, bool]:
    """(in the denominator, recurs) for one child, from its victim records in date order
    (ties by report ID), after steps 1-4: section 2.1 steps 5-11, record by record."""
    kept = []
    for record in records:
        if pd.isna(record.RPTDT) or record.RPTDT < window_start:  # step 5: no look-back
            continue
        if _is_adult(record):  # step 6: age filter on every record
            continue
        kept.append(record)
    if not kept:
        return False, False
    initial = kept[0]  # step 7: the earliest remaining victim record
    if initial.RPTDT > period_end:
        return False, False
    if _is_unborn(initial) or not _has_age_group(initial):  # step 8
        return False, False
    for record in kept[1:]:
        days = (record.RPTDT - initial.RPTDT).days
        if days <= SAME_REPORT_DAYS:  # step 9: 0 <= d <= 14 rolls up into the initial report
            continue
        if _known(record.INCIDDT) and _known(initial.INCIDDT) and record.INCIDDT == initial.INCIDDT:
            continue  # step 10: same incident as the initial report, look at the next one
        if days <= RECURRENCE_WINDOW_DAYS:  # step 11: 14 < d <= 365
            return True, True
        break  # records are in date order: every later one is beyond 365 days too
    return True, False


def recurrence_counts_pandas_straightforward(file_t: pd.DataFrame, file_t1: pd.DataFrame, fy: int) -> pd.DataFrame:
    """Denominator, numerator and DQ status per state for cohort FY `fy` (section 2.1),
    deciding each child in a Python loop over its records."""
    window_start, period_end = cohort_dates(fy)
    victims, dq_status, states = victims_after_dq(file_t, file_t1)
    # Only the columns the rules read go into the loop (itertuples costs per column).
    victims = victims[[*KEY, "RPTID", "RPTDT", "CHAGE", "CHBDATE", "INCIDDT"]].sort_values([*KEY, "RPTDT", "RPTID"])
    denominator = dict.fromkeys(states, 0)
    numerator = dict.fromkeys(states, 0)
    for (state, _child_id), records in victims.groupby(KEY, sort=False):
        in_denominator, recurs = child_outcome(records.itertuples(index=False), window_start, period_end)
        denominator[state] += in_denominator
        numerator[state] += recurs
    counts = pd.DataFrame({"denominator": denominator, "numerator": numerator})
    return result_table(counts, states, dq_status)
