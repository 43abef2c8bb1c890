"""An independent implementation of CFSR Round 4 "recurrence of maltreatment" observed
counts, written from /work/shared/reference/cfsr-r4-rules.md (sections 2 and 3) and the
Round 4 indicator sheet only, as a test oracle for cmi_assets.cfsr. It shares no code
with the project: polars only loads and filters rows, then every rule runs as plain
Python over victim records, one child at a time.

Defaults implemented (the document's named defaults):
- 14-day roll-up measured from the INITIAL report, not chained (2.1 step 9);
- same-incident rule drops the duplicate record and still looks at later ones (step 10);
- the Round 3 initial-fatality exclusion is OFF (step 13);
- a (StaTerr, RptID, ChID) in both files: the later submission is kept (step 2);
- six age groups (2.2).

Readings agreed with the project owners:
- the age exclusions of 2.2 (ChAge 0 without DOB; missing age without DOB) look at the
  child's INITIAL report only. A record with a DOB never has a missing age;
- step 4 drops whole only the children flagged by DQ check 2 (ID match with a sex or
  DOB/age conflict);
- a state-period is DQ when any section 3 check fails on the files used, or when the
  state has no rows in file t or in file t+1;
- windows come from report dates; 12 months = 365 days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import polars as pl

# Section 6 / 2.1 step 3: MAL1LEV..MAL4LEV code 1 = substantiated, 2 = indicated.
MALTREATMENT_LEVEL_COLUMNS = ("MAL1LEV", "MAL2LEV", "MAL3LEV", "MAL4LEV")
VICTIM_LEVELS = {"1", "2"}
MALDEATH_YES = "1"
# Section 6, element #12: ages 0-21 in years, 77 unborn, 99 unknown.
CHAGE_UNBORN = 77
CHAGE_UNKNOWN = 99
MAX_CHAGE = 21
KNOWN_SEX = {"1", "2"}  # 9 = unknown: the child is left out of check 2 (section 3)

# Section 3 limits.
CHECK1_MIN_MATCH_RATE = 0.01  # DQ when the ID match rate is < 1%
CHECK2_MAX_CONFLICT_RATE = 0.05  # DQ when > 5% of matched IDs have a sex/DOB/age conflict
CHECK3_MAX_MISSING_AGE_RATE = 0.05  # DQ when > 5% of victims have a missing age
CHECK2_MAX_AGE_GAIN = 3  # age(t+1) - age(t) < 0 or > 3 is a conflict

ROLL_UP_DAYS = 14  # 2.1 step 9
FOLLOW_UP_DAYS = 365  # 2.1 step 11: "12 months" = 365 days

# Section 2.2: age groups in whole months [lo, hi).
AGE_GROUPS = (
    ("0-3 mo", 0, 4),
    ("4-11 mo", 4, 12),
    ("1-5 y", 12, 72),
    ("6-10 y", 72, 132),
    ("11-16 y", 132, 204),
    ("17 y", 204, 216),
)

NEEDED_COLUMNS = (
    "SUBYR",
    "STATERR",
    "RPTID",
    "CHID",
    "RPTDT",
    "CHAGE",
    "CHBDATE",
    "CHSEX",
    *MALTREATMENT_LEVEL_COLUMNS,
    "MALDEATH",
    "INCIDDT",
)


@dataclass(frozen=True)
class Record:
    """One report-child pair (2.1 step 2), with only the fields the rules use."""

    subyr: int
    state: str
    report_id: str
    child_id: str
    report_date: date | None
    chage: int | None
    dob: date | None
    sex: str | None
    incident_date: date | None

    @property
    def child(self) -> tuple[str, str]:
        return (self.state, self.child_id)


# --------------------------------------------------------------------------- small helpers


def whole_months(dob: date, day: date) -> int:
    """Whole months from DOB to a day (2.2: "whole months from DOB to the initial RptDt");
    negative when the child is not born yet."""
    months = (day.year - dob.year) * 12 + (day.month - dob.month)
    if day.day < dob.day:
        months -= 1
    return months


def is_unborn(record: Record) -> bool:
    """2.1 step 8: ChAge = 77 or DOB > RptDt."""
    if record.chage == CHAGE_UNBORN:
        return True
    return record.dob is not None and record.report_date is not None and record.dob > record.report_date


def age_in_years(record: Record) -> int | None:
    """Age at the report in whole years: from the DOB when there is one (NCANDS validation
    fills age from DOB and report date, section 3 check 3), else ChAge when it is an age
    (0-21). None when unknown (ChAge 99 or blank without DOB) or unborn."""
    if is_unborn(record):
        return None
    if record.dob is not None:
        return whole_months(record.dob, record.report_date) // 12
    if record.chage is not None and 0 <= record.chage <= MAX_CHAGE:
        return record.chage
    return None


def has_missing_age(record: Record) -> bool:
    """Section 3 check 3 / 2.2: ChAge missing (99 or blank) and no DOB. A record with a DOB
    never has a missing age."""
    return record.dob is None and (record.chage is None or record.chage == CHAGE_UNKNOWN)


def is_under_one_without_dob(record: Record) -> bool:
    """2.2 / section 3 check 2: ChAge 0 and no DOB (0-3 vs 4-11 months cannot be told)."""
    return record.dob is None and record.chage == 0


def is_18_or_older(record: Record) -> bool:
    """2.1 step 6: ChAge > 17 (an age code, not 77/99), or DOB + 18 years <= RptDt (whole
    months >= 216, so a 29 February birthday turns 18 on 1 March)."""
    if record.chage is not None and 17 < record.chage <= MAX_CHAGE:
        return True
    if record.dob is not None and record.report_date is not None:
        return whole_months(record.dob, record.report_date) >= 18 * 12
    return False


def age_group(initial: Record) -> str | None:
    """2.2: age in months at the initial report (DOB, else ChAge in years x 12) -> one of the
    six groups; None when it cannot be set (ChAge 0 without DOB, missing age, unborn)."""
    if is_unborn(initial):
        return None
    if initial.dob is not None:
        months = whole_months(initial.dob, initial.report_date)
    elif is_under_one_without_dob(initial) or has_missing_age(initial):
        return None
    elif initial.chage is not None and 0 < initial.chage <= MAX_CHAGE:
        months = initial.chage * 12
    else:
        return None
    for name, lo, hi in AGE_GROUPS:
        if lo <= months < hi:
            return name
    return None


def fiscal_year_window(fy: int) -> tuple[date, date]:
    """2.1 step 1: cohort FYt runs 10/1/(t-1) to 9/30/t."""
    return date(fy - 1, 10, 1), date(fy, 9, 30)


def first_record(records: list[Record]) -> Record:
    """A child's first record: earliest RptDt; ties (same date, any RptID, 2.1 step 7) are
    broken by RptID so the choice is deterministic."""
    return min(records, key=lambda r: (r.report_date, r.report_id))


# --------------------------------------------------------------------------- loading


def victim_flag() -> pl.Expr:
    """2.1 step 3: any MalNLev in {1, 2}, or MalDeath = 1."""
    levels = [
        pl.col(c).str.strip_chars().is_in(list(VICTIM_LEVELS)).fill_null(False) for c in MALTREATMENT_LEVEL_COLUMNS
    ]
    death = (pl.col("MALDEATH").str.strip_chars() == MALDEATH_YES).fill_null(False)
    return pl.any_horizontal(*levels) | death


def to_records(frame: pl.DataFrame) -> list[Record]:
    rows = frame.select(
        "SUBYR", "STATERR", "RPTID", "CHID", "RPTDT", "CHAGE", "CHBDATE", "CHSEX", "INCIDDT"
    ).iter_rows()
    return [
        Record(int(subyr), state, rpt, chid, rptdt, chage, dob, None if sex is None else sex.strip(), incid)
        for subyr, state, rpt, chid, rptdt, chage, dob, sex, incid in rows
    ]


def victims_of(frame: pl.DataFrame) -> list[Record]:
    return to_records(frame.filter(victim_flag()))


def later_submission_kept(file_t: pl.DataFrame, file_t1: pl.DataFrame) -> pl.DataFrame:
    """2.1 step 2: one copy per (StaTerr, RptID, ChID); when the pair is in both files,
    the later submission (file t+1) is kept, before the victim test (its disposition may
    have changed)."""
    both = pl.concat([file_t1.select(NEEDED_COLUMNS), file_t.select(NEEDED_COLUMNS)], how="vertical_relaxed")
    return both.unique(subset=["STATERR", "RPTID", "CHID"], keep="first", maintain_order=True)


# --------------------------------------------------------------------------- section 3 DQ checks


def by_state_and_child(records: list[Record]) -> dict[str, dict[str, list[Record]]]:
    grouped: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        grouped[r.state][r.child_id].append(r)
    return grouped


def id_conflict(first_t: Record, first_t1: Record) -> tuple[bool, bool]:
    """Section 3 check 2 for one matched Child ID, on the first victim record in each file
    (the document's example tie rule). Returns (in_check, conflict).

    - "children missing sex or age are left out of the check": a child whose record in
      either file has an unknown sex (not 1/2) or a missing age (ChAge 99/blank and no
      DOB) is not in the check at all (no other comparison is made for it);
    - "children < 1 without DOB are excluded from the check";
    - otherwise the child conflicts when the sex differs, or age(t+1) - age(t) < 0 or > 3
      (ages in years, from DOB else ChAge; not compared when unborn in either file), or,
      when it is under 1 (or unborn) in either file and both DOBs are present, the DOBs
      differ."""
    for r in (first_t, first_t1):
        if r.sex not in KNOWN_SEX or has_missing_age(r) or is_under_one_without_dob(r):
            return False, False
    if first_t.sex != first_t1.sex:
        return True, True
    age_t, age_t1 = age_in_years(first_t), age_in_years(first_t1)
    if age_t is not None and age_t1 is not None:
        gain = age_t1 - age_t
        if gain < 0 or gain > CHECK2_MAX_AGE_GAIN:
            return True, True
    under_one = any(is_unborn(r) or age_in_years(r) == 0 for r in (first_t, first_t1))
    if under_one and first_t.dob is not None and first_t1.dob is not None and first_t.dob != first_t1.dob:
        return True, True
    return True, False


@dataclass
class StateDQ:
    reasons: list[str]
    flagged_children: set[str]  # Child IDs dropped from the indicator (2.1 step 4)


def dq_checks(state: str, victims_t: dict[str, list[Record]], victims_t1: dict[str, list[Record]]) -> StateDQ:
    """Section 3 checks 1-3 for one state on files t and t+1 (victims only; checks 4-5 are
    for maltreatment in care). Raw file records, before dedupe and window filters."""
    reasons: list[str] = []

    # Check 1: unique victims in file t; of those, victims also in file t+1. DQ if < 1%.
    ids_t, ids_t1 = set(victims_t), set(victims_t1)
    matched = ids_t & ids_t1
    if ids_t:
        rate = len(matched) / len(ids_t)
        if rate < CHECK1_MIN_MATCH_RATE:
            reasons.append(f"check 1: victim Child IDs matching file t+1 {len(matched)}/{len(ids_t)} < 1%")

    # Check 2: matched IDs whose sex, DOB (under 1) or age gain disagree. DQ if > 5%.
    in_check = 0
    flagged: set[str] = set()
    for child_id in sorted(matched):
        counted, conflict = id_conflict(first_record(victims_t[child_id]), first_record(victims_t1[child_id]))
        if counted:
            in_check += 1
            if conflict:
                flagged.add(child_id)
    if in_check and len(flagged) / in_check > CHECK2_MAX_CONFLICT_RATE:
        reasons.append(f"check 2: matched IDs with sex/DOB/age conflicts {len(flagged)}/{in_check} > 5%")

    # Check 3: victims with missing age, per file. DQ if > 5%. "Victims" counted as children
    # (a child with a missing age on any of its victim records), as check 1 counts "unique
    # victims": the table does not say, and the unit only matters at the limit.
    for label, victims in (("t", victims_t), ("t+1", victims_t1)):
        if victims:
            missing = sum(any(has_missing_age(r) for r in rs) for rs in victims.values())
            if missing / len(victims) > CHECK3_MAX_MISSING_AGE_RATE:
                reasons.append(f"check 3: victims with missing age in file {label} {missing}/{len(victims)} > 5%")

    return StateDQ(reasons, flagged)


# --------------------------------------------------------------------------- section 2.1 per child


def child_outcome(records: list[Record], window_start: date, window_end: date) -> tuple[bool, bool]:
    """Steps 5-11 for one child's victim records (after dedupe). Returns (in_denominator,
    recurred)."""
    # Step 5: window start; no look-back. (A record without RptDt cannot be placed.)
    kept = [r for r in records if r.report_date is not None and r.report_date >= window_start]
    # Step 6: age filter on every record: reports at 18 or older never count.
    kept = [r for r in kept if not is_18_or_older(r)]
    if not kept:
        return False, False
    # Step 7: initial victimization = earliest remaining record; it must be in the period.
    initial = first_record(kept)
    if initial.report_date > window_end:
        return False, False
    # Step 8: unborn at the initial report -> dropped. 2.2: the age group must be settable
    # at the INITIAL report (ChAge 0 without DOB, or missing age without DOB -> dropped).
    if is_unborn(initial) or age_group(initial) is None:
        return False, False
    # Step 13 (Round 3 initial-fatality exclusion) is off by default: nothing to do.
    recurred = False
    for r in kept:
        if r is initial:
            continue
        d = (r.report_date - initial.report_date).days
        # Step 9: 0 <= d <= 14 from the INITIAL report is a roll-up, ignored (not chained).
        if d <= ROLL_UP_DAYS:
            continue
        # Step 10: same incident date as the initial report (both present): duplicate record,
        # ignored; later records are still looked at.
        if (
            r.incident_date is not None
            and initial.incident_date is not None
            and r.incident_date == initial.incident_date
        ):
            continue
        # Step 11: recurrence when 14 < d <= 365 (a missing age on this record does not matter).
        if d <= FOLLOW_UP_DAYS:
            recurred = True
    return True, recurred


# --------------------------------------------------------------------------- entry point


def independent_recurrence(file_t: pl.DataFrame, file_t1: pl.DataFrame, fy: int) -> dict[str, dict]:
    """Per state: {"denominator", "numerator", "dq", "dq_reasons"} for cohort FY `fy`, from
    Child Files SUBYR = fy (`file_t`) and fy + 1 (`file_t1`)."""
    window_start, window_end = fiscal_year_window(fy)  # step 1
    states_t = set(file_t["STATERR"].unique().drop_nulls().to_list())
    states_t1 = set(file_t1["STATERR"].unique().drop_nulls().to_list())

    # Section 3 inputs: each file's own victim records.
    victims_t = by_state_and_child(victims_of(file_t))
    victims_t1 = by_state_and_child(victims_of(file_t1))

    # Steps 2-3: one copy per report-child pair (later submission), then victim records.
    deduped = later_submission_kept(file_t, file_t1)
    victims = by_state_and_child(victims_of(deduped))

    result: dict[str, dict] = {}
    for state in sorted(states_t | states_t1):
        # Step 4: DQ checks first.
        dq = dq_checks(state, victims_t.get(state, {}), victims_t1.get(state, {}))
        reasons = list(dq.reasons)
        if state not in states_t:
            reasons.insert(0, f"no rows in file FY{fy}")
        if state not in states_t1:
            reasons.insert(0, f"no rows in file FY{fy + 1}")

        denominator = numerator = 0
        for child_id, records in victims.get(state, {}).items():
            # Step 4: children flagged by check 2 (ID match with sex/DOB/age conflict) are dropped.
            if child_id in dq.flagged_children:
                continue
            counted, recurred = child_outcome(records, window_start, window_end)
            denominator += counted
            numerator += recurred
        # Step 12: observed = numerator / denominator (not published when DQ).
        result[state] = {"denominator": denominator, "numerator": numerator, "dq": bool(reasons), "dq_reasons": reasons}
    return result
