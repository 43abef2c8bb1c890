"""A straightforward pandas implementation of the CFSR R4 recurrence rules (default
options of cmi_assets.cfsr.recurrence: dictionary 14-day rule, same-incident records
dropped, later submission kept, DQ-flagged children dropped), written independently
of the polars engine as the baseline for benchmarks/bench_cfsr.py and as a cross-check
of its numerators and denominators.

    recurrence_counts_pandas(file_t, file_t1, fy) -> DataFrame[state, denominator, numerator, dq_status]

Inputs are pandas frames with the Child File columns of CHILD_FILE_SCHEMA (dates as
datetime64, CHAGE a nullable integer, codes as strings).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEY = ["STATERR", "CHID"]
RECORD = ["STATERR", "RPTID", "CHID"]
LEVELS = ["MAL1LEV", "MAL2LEV", "MAL3LEV", "MAL4LEV"]


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
    return pd.Series(np.where(chage == 77, 0.0, np.where(_chage_years(chage).notna(), chage, from_dob)), index=frame.index)


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
    check_1 = check_1.groupby("STATERR").agg(den=("matched", "size"), num=("matched", "sum")).reindex(states, fill_value=0)
    results = [_rate_result(check_1["num"], check_1["den"], 0.01, below=True)]

    def firsts(victims, suffix):
        first = _first_record(victims)
        return pd.DataFrame(
            {"STATERR": first["STATERR"], "CHID": first["CHID"], f"sex{suffix}": first["CHSEX"],
             f"dob{suffix}": first["CHBDATE"], f"age{suffix}": _age_years(first)}
        )  # fmt: skip

    infants = pd.concat([victims_t[_infant_without_dob(victims_t)], victims_t1[_infant_without_dob(victims_t1)]])
    infants = infants[KEY].drop_duplicates().assign(infant=True)
    pairs = firsts(victims_t, "_t").merge(firsts(victims_t1, "_t1"), on=KEY).merge(infants, on=KEY, how="left")
    eligible = (
        pairs["sex_t"].isin(["1", "2"]) & pairs["sex_t1"].isin(["1", "2"])
        & pairs["age_t"].notna() & pairs["age_t1"].notna() & pairs["infant"].isna()
    )  # fmt: skip
    change = pairs["age_t1"] - pairs["age_t"]
    dob_differs = (pairs["age_t"] < 1) & pairs["dob_t"].notna() & pairs["dob_t1"].notna() & (pairs["dob_t"] != pairs["dob_t1"])
    mismatch = eligible & ((pairs["sex_t"] != pairs["sex_t1"]) | dob_differs | (change < 0) | (change > 3))
    pairs = pairs.assign(eligible=eligible, mismatch=mismatch)
    check_2 = pairs[pairs["eligible"]].groupby("STATERR").agg(den=("mismatch", "size"), num=("mismatch", "sum"))
    check_2 = check_2.reindex(states, fill_value=0)
    results.append(_rate_result(check_2["num"], check_2["den"], 0.05, below=False))
    for victims in (victims_t, victims_t1):
        per_child = victims.assign(missing=_missing_age(victims)).groupby(KEY, as_index=False)["missing"].any()
        check_3 = per_child.groupby("STATERR").agg(den=("missing", "size"), num=("missing", "sum")).reindex(states, fill_value=0)
        results.append(_rate_result(check_3["num"], check_3["den"], 0.05, below=False))
    failed = pd.concat(results, axis=1).eq("fail").any(axis=1)
    dq_status = pd.Series(np.where(failed, "DQ", "pass"), index=states)

    victims = pd.concat([victims_t, victims_t1])
    flagged = victims[_missing_age(victims) | _infant_without_dob(victims)][KEY]
    flagged = pd.concat([flagged, pairs.loc[pairs["mismatch"], KEY]]).drop_duplicates()
    return dq_status, flagged


def recurrence_counts_pandas(file_t: pd.DataFrame, file_t1: pd.DataFrame, fy: int) -> pd.DataFrame:
    """Denominator, numerator and DQ status per state for cohort FY `fy` (section 2.1)."""
    window_start, period_end = pd.Timestamp(fy - 1, 10, 1), pd.Timestamp(fy, 9, 30)
    victims_t, victims_t1 = _victims(file_t), _victims(file_t1)
    dq_status, flagged = dq_status_and_flags(victims_t, victims_t1)

    # Step 2: a report-child pair in both files keeps the file t+1 copy.
    in_later = file_t.merge(file_t1[RECORD].drop_duplicates(), on=RECORD, how="left", indicator=True)["_merge"] == "both"
    records = pd.concat([file_t1, file_t[~in_later.to_numpy()]], ignore_index=True)
    victims = _victims(records)
    # Step 4: drop flagged children.
    victims = victims.merge(flagged.assign(flag=True), on=KEY, how="left")
    victims = victims[victims["flag"].isna()]
    # Steps 5-6.
    victims = victims[victims["RPTDT"] >= window_start]
    adult = (_chage_years(victims["CHAGE"]) > 17) | (_months(victims["CHBDATE"], victims["RPTDT"]) >= 216)
    victims = victims[~adult.fillna(False).astype(bool)]
    # Step 7: the earliest record per child.
    victims = victims.sort_values([*KEY, "RPTDT", "RPTID"])
    initial = victims.drop_duplicates(KEY, keep="first")
    initial = initial[initial["RPTDT"] <= period_end]
    # Step 8 and section 2.2: unborn children and children without an age group.
    chage = initial["CHAGE"].astype("float64")
    unborn = (chage == 77) | (initial["CHBDATE"] > initial["RPTDT"])
    months = _months(initial["CHBDATE"], initial["RPTDT"])
    from_chage = _chage_years(chage).where(chage >= 1) * 12
    months = months.where(initial["CHBDATE"].notna(), from_chage)
    has_group = (months >= 0) & (months < 216)
    cohort = initial[~unborn.fillna(False).astype(bool) & has_group][[*KEY, "RPTID", "RPTDT", "INCIDDT"]]
    cohort = cohort.rename(columns={"RPTID": "first_rptid", "RPTDT": "first_rptdt", "INCIDDT": "first_inciddt"})
    # Steps 9-11: later records of the cohort's children.
    later = victims.merge(cohort, on=KEY)
    later = later[~((later["RPTID"] == later["first_rptid"]) & (later["RPTDT"] == later["first_rptdt"]))]
    days = (later["RPTDT"] - later["first_rptdt"]).dt.days
    same_incident = later["INCIDDT"].notna() & later["first_inciddt"].notna() & (later["INCIDDT"] == later["first_inciddt"])
    counted = (days > 14) & (days <= 365) & ~same_incident
    recurring = later[counted.to_numpy()][KEY].drop_duplicates().assign(recur=True)
    cohort = cohort.merge(recurring, on=KEY, how="left")
    cohort["recur"] = cohort["recur"].fillna(False).astype(bool)
    counts = cohort.groupby("STATERR").agg(denominator=("recur", "size"), numerator=("recur", "sum"))
    states = sorted(set(records["STATERR"]))
    counts = counts.reindex(states, fill_value=0)
    counts["dq_status"] = dq_status.reindex(states).fillna("pass")
    return counts.rename_axis("state").reset_index().astype({"denominator": "int64", "numerator": "int64"})
