"""NCANDS data-quality checks for the CFSR Round 4 recurrence indicator (CFSR R4 rules,
section 3; the indicator sheet's "Data Quality Checks Performed"), and the records they
flag for exclusion (section 2.1 step 4).

Checks apply to victims only (section 2.1 step 3) and are computed per state:
  1. victim Child IDs of file t that are victims again in file t+1: DQ when < 1%;
  2. of those matched IDs, sex / DOB (under 1) / age disagree: DQ when > 5%;
  3. victims with missing age (after NCANDS fills ChAge from DOB): DQ when > 5%.
Checks 1 and 2 need file t+1; without it they are blank (null), as on the data profile.
A check counts only children with the values it needs, except check 3, which looks for
the missing values themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cmi_assets.cfsr.ages import age_years_filled, is_infant_without_dob, is_missing_age
from cmi_assets.reference.ncands_codes import is_victim_record

STATE, CHILD_ID = "STATERR", "CHID"
CHILD_KEY = [STATE, CHILD_ID]
KNOWN_SEX = ["1", "2"]


@dataclass(frozen=True)
class DQCheck:
    number: int
    name: str
    limit: float
    fails_when: str  # "below" or "above" the limit


DQ_CHECKS: tuple[DQCheck, ...] = (
    DQCheck(1, "victim child IDs match across years", 0.01, "below"),
    DQCheck(2, "matched victim IDs with DOB/age or sex mismatch", 0.05, "above"),
    DQCheck(3, "missing age for victims", 0.05, "above"),
)

DQ_TABLE_SCHEMA = {
    "state": pl.String,
    "check": pl.Int32,
    "check_name": pl.String,
    "files": pl.String,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "rate": pl.Float64,
    "limit": pl.Float64,
    "fails_when": pl.String,
    "result": pl.String,
}


def submission_year(file: pl.DataFrame, role: str) -> int | None:
    """The one SUBYR of a submission file set (a Child File holds one FY, section 6 #1);
    None for an empty file."""
    years = file.get_column("SUBYR").drop_nulls().unique().to_list()
    if len(years) > 1 or (not years and file.height):
        raise ValueError(f"NCANDS child file {role}: expected one SUBYR, found {len(years)} distinct values")
    return int(years[0]) if years else None


def victim_records(file: pl.DataFrame) -> pl.DataFrame:
    """Victim records of one Child File with the columns the checks read."""
    return file.filter(is_victim_record()).select(
        STATE, CHILD_ID, "RPTID", "SUBYR", "RPTDT", "CHAGE", "CHBDATE", "CHSEX"
    )


def first_victim_record_per_child(victims: pl.DataFrame) -> pl.DataFrame:
    """The child's first victim record in a file (earliest report date, then report ID),
    the record compared across years (section 3 general notes; CB's tie rule is
    unpublished, unconfirmed)."""
    ordered = victims.sort([*CHILD_KEY, "RPTDT", "RPTID"], nulls_last=True)
    new_child = (pl.col(STATE) != pl.col(STATE).shift(1)) | (pl.col(CHILD_ID) != pl.col(CHILD_ID).shift(1))
    return ordered.filter(new_child.fill_null(True))


def infant_without_dob_children(victims: pl.DataFrame) -> pl.DataFrame:
    """Children with a victim record at ChAge 0 and no DOB (left out of check 2 and of
    the indicator, section 3)."""
    return victims.filter(is_infant_without_dob()).select(CHILD_KEY).unique()


def id_match_across_years(victims_t: pl.DataFrame, victims_t1: pl.DataFrame) -> pl.DataFrame:
    """Check 1 per state: unique victims of file t (denominator) that are victims in
    file t+1 too (numerator)."""
    children_t = victims_t.select(CHILD_KEY).unique()
    children_t1 = victims_t1.select(CHILD_KEY).unique().with_columns(matched=pl.lit(True))
    return (
        children_t.join(children_t1, on=CHILD_KEY, how="left")
        .group_by(STATE)
        .agg(denominator=pl.len(), numerator=pl.col("matched").fill_null(False).sum())
    )


def matched_id_comparison(victims_t: pl.DataFrame, victims_t1: pl.DataFrame) -> pl.DataFrame:
    """Check 2 per child: one row per victim ID in both files with `eligible` (has the
    sex and age the check needs, and is not an infant without DOB) and `mismatch`
    (sex differs, or under 1 and DOB differs, or age(t+1) - age(t) < 0 or > 3)."""
    infants_without_dob = pl.concat([infant_without_dob_children(victims_t), infant_without_dob_children(victims_t1)])

    def first_records(victims: pl.DataFrame, suffix: str) -> pl.DataFrame:
        return first_victim_record_per_child(victims).select(
            *CHILD_KEY,
            pl.col("CHSEX").alias(f"sex{suffix}"),
            pl.col("CHBDATE").alias(f"dob{suffix}"),
            age_years_filled().alias(f"age{suffix}"),
        )

    compared = first_records(victims_t, "_t").join(first_records(victims_t1, "_t1"), on=CHILD_KEY, how="inner")
    infant_flag = infants_without_dob.unique().with_columns(infant_without_dob=pl.lit(True))
    compared = compared.join(infant_flag, on=CHILD_KEY, how="left")
    age_change = pl.col("age_t1") - pl.col("age_t")
    eligible = (
        pl.col("sex_t").is_in(KNOWN_SEX)
        & pl.col("sex_t1").is_in(KNOWN_SEX)
        & pl.col("age_t").is_not_null()
        & pl.col("age_t1").is_not_null()
        & pl.col("infant_without_dob").is_null()
    )
    dob_differs_under_1 = ((pl.col("age_t") < 1) & (pl.col("dob_t") != pl.col("dob_t1"))).fill_null(False)
    mismatch = (pl.col("sex_t") != pl.col("sex_t1")) | dob_differs_under_1 | (age_change < 0) | (age_change > 3)
    return compared.select(
        *CHILD_KEY,
        eligible.fill_null(False).alias("eligible"),
        (eligible & mismatch).fill_null(False).alias("mismatch"),
    )


def id_mismatch_rate(comparison: pl.DataFrame) -> pl.DataFrame:
    """Check 2 per state: eligible matched IDs (denominator) that mismatch (numerator)."""
    return (
        comparison.filter(pl.col("eligible"))
        .group_by(STATE)
        .agg(denominator=pl.len(), numerator=pl.col("mismatch").sum())
    )


def missing_age_rate(victims: pl.DataFrame) -> pl.DataFrame:
    """Check 3 per state: unique victims (denominator) with a victim record whose age is
    missing after NCANDS fills it from DOB (numerator)."""
    return (
        victims.group_by(CHILD_KEY)
        .agg(missing=is_missing_age().any())
        .group_by(STATE)
        .agg(denominator=pl.len(), numerator=pl.col("missing").sum())
    )


def _check_rows(counts: pl.DataFrame | None, states: pl.DataFrame, check: DQCheck, files: str) -> pl.DataFrame:
    """Rows of the DQ table for one check: every state with numerator, denominator,
    rate, limit and pass/fail. `counts` None means the check needs a file that does not
    exist yet: the row is blank (section 3 general notes)."""
    if counts is None:
        rows = states.with_columns(numerator=pl.lit(None, pl.Int64), denominator=pl.lit(None, pl.Int64))
    else:
        rows = states.join(counts.rename({STATE: "state"}), on="state", how="left").with_columns(
            pl.col("numerator", "denominator").cast(pl.Int64).fill_null(0)
        )
    fails = pl.col("rate") < check.limit if check.fails_when == "below" else pl.col("rate") > check.limit
    result = pl.when(pl.col("rate").is_null()).then(None).when(fails).then(pl.lit("fail")).otherwise(pl.lit("pass"))
    return (
        rows.with_columns(rate=pl.when(pl.col("denominator") > 0).then(pl.col("numerator") / pl.col("denominator")))
        .with_columns(
            check=pl.lit(check.number, pl.Int32),
            check_name=pl.lit(check.name),
            files=pl.lit(files),
            limit=pl.lit(check.limit),
            fails_when=pl.lit(check.fails_when),
            result=result,
        )
        .select(list(DQ_TABLE_SCHEMA))
        .cast(DQ_TABLE_SCHEMA)
    )


def dq_checks_and_flagged_records(
    file_t: pl.DataFrame, file_t1: pl.DataFrame | None, fy: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`dq_checks` and `dq_flagged_records` together, reading each file once (the
    recurrence calls this)."""
    year_t = fy if fy is not None else submission_year(file_t, "file t")
    if year_t is None:
        raise ValueError("NCANDS child file t is empty: pass fy")
    if submission_year(file_t, "file t") not in (None, year_t):
        raise ValueError(f"NCANDS child file t: SUBYR is not FY{year_t}")
    if file_t1 is not None and submission_year(file_t1, "file t+1") not in (None, year_t + 1):
        raise ValueError("NCANDS child file t+1: SUBYR is not one year after file t")
    victims_t = victim_records(file_t)
    victims_t1 = victim_records(file_t1) if file_t1 is not None else None
    comparison = matched_id_comparison(victims_t, victims_t1) if victims_t1 is not None else None
    checks = _checks_table(victims_t, victims_t1, comparison, year_t)
    return checks, _flagged_records(victims_t, victims_t1, comparison)


def dq_checks(file_t: pl.DataFrame, file_t1: pl.DataFrame | None, fy: int | None = None) -> pl.DataFrame:
    """The DQ table for the files of one period: one row per state x check x file, with
    numerator, denominator, rate, limit, `fails_when` and `result` ("pass"/"fail"; null
    when the check cannot be computed: no victims, or file t+1 absent for checks 1-2).

    Check 3 is reported for each file used (file t and, when present, file t+1).
    `fy` (file t's SUBYR) is read from file t unless given."""
    return dq_checks_and_flagged_records(file_t, file_t1, fy)[0]


def dq_flagged_records(file_t: pl.DataFrame, file_t1: pl.DataFrame | None, fy: int | None = None) -> pl.DataFrame:
    """Victim records flagged by the DQ checks (section 2.1 step 4), one row per record
    per file: STATERR, CHID, RPTID, SUBYR and one boolean per reason:
      flag_id_mismatch        all victim records of a child failing check 2 (unconfirmed:
                              the ID is unreliable, so the child is dropped whole);
      flag_missing_age        ChAge unknown and no DOB (check 3; section 2.2);
      flag_infant_without_dob ChAge 0 and no DOB (section 3, check 2 note).
    The recurrence drops a child whole for flag_id_mismatch (`drop_dq_flagged_records`);
    the age flags exclude a child only on its initial report, through its age group."""
    return dq_checks_and_flagged_records(file_t, file_t1, fy)[1]


def _checks_table(
    victims_t: pl.DataFrame, victims_t1: pl.DataFrame | None, comparison: pl.DataFrame | None, year_t: int
) -> pl.DataFrame:
    state_frames = [victims_t.select(pl.col(STATE).alias("state"))]
    if victims_t1 is not None:
        state_frames.append(victims_t1.select(pl.col(STATE).alias("state")))
    states = pl.concat(state_frames).unique()

    pair = f"FY{year_t}-FY{year_t + 1}"
    check_1, check_2, check_3 = DQ_CHECKS
    have_t1 = victims_t1 is not None
    tables = [
        _check_rows(id_match_across_years(victims_t, victims_t1) if have_t1 else None, states, check_1, pair),
        _check_rows(id_mismatch_rate(comparison) if have_t1 else None, states, check_2, pair),
        _check_rows(missing_age_rate(victims_t), states, check_3, f"FY{year_t}"),
    ]
    if have_t1:
        tables.append(_check_rows(missing_age_rate(victims_t1), states, check_3, f"FY{year_t + 1}"))
    return pl.concat(tables).sort("state", "check", "files")


def dq_status_by_state(checks: pl.DataFrame, states_by_file: dict[str, list[str]] | None = None) -> pl.DataFrame:
    """state, dq_status, dq_reason. "DQ" when any check of the period's files fails, or
    when the state has no records in one of the period's files (`states_by_file`: file
    label -> states with rows): a rate from half of a state's data is not its rate, and
    the checks cannot see it (check 1 has no file-t victims to look at). Else "pass"
    (section 2.1 step 4: no observed value and no RSP for a DQ state-period). dq_reason
    names every failed check and missing file; null on a pass."""
    failed = checks.filter(pl.col("result") == "fail").select(
        "state", reason=pl.format("check {} fails ({})", pl.col("check"), pl.col("files"))
    )
    states = checks.select("state")
    missing = []
    for label, present in (states_by_file or {}).items():
        states = pl.concat([states, pl.DataFrame({"state": sorted(present)}, schema={"state": pl.String})])
        missing.append((label, set(present)))
    states = states.unique()
    absent = [
        {"state": state, "reason": f"no records in the {label} file"}
        for state in states["state"].to_list()
        for label, present in missing
        if state not in present
    ]
    reasons = pl.concat([failed, pl.DataFrame(absent, schema={"state": pl.String, "reason": pl.String})])
    by_state = reasons.sort("reason").group_by("state").agg(dq_reason=pl.col("reason").str.join("; "))
    return (
        states.join(by_state, on="state", how="left")
        .select(
            "state",
            dq_status=pl.when(pl.col("dq_reason").is_null()).then(pl.lit("pass")).otherwise(pl.lit("DQ")),
            dq_reason="dq_reason",
        )
        .sort("state")
    )


def _flagged_records(
    victims_t: pl.DataFrame, victims_t1: pl.DataFrame | None, comparison: pl.DataFrame | None
) -> pl.DataFrame:
    victims = pl.concat([victims_t] + ([victims_t1] if victims_t1 is not None else []))
    if comparison is not None:
        mismatched = comparison.filter(pl.col("mismatch")).select(CHILD_KEY)
    else:
        mismatched = pl.DataFrame(schema={STATE: pl.String, CHILD_ID: pl.String})
    return (
        victims.join(mismatched.with_columns(flag_id_mismatch=pl.lit(True)), on=CHILD_KEY, how="left")
        .with_columns(
            pl.col("flag_id_mismatch").fill_null(False),
            flag_missing_age=is_missing_age(),
            flag_infant_without_dob=is_infant_without_dob(),
        )
        .filter(pl.col("flag_id_mismatch") | pl.col("flag_missing_age") | pl.col("flag_infant_without_dob"))
        .select(STATE, CHILD_ID, "RPTID", "SUBYR", "flag_id_mismatch", "flag_missing_age", "flag_infant_without_dob")
    )
