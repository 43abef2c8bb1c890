"""CFSR Round 4 recurrence of maltreatment: observed performance per state
(CFSR R4 rules, section 2.1 steps 1-13; the indicator sheet in the reference folder).

"Of all children who were victims of a substantiated or indicated maltreatment report
during a 12-month period, what percent were victims of another substantiated or
indicated maltreatment report within 12 months of their initial report?"

Each rule of section 2.1 is one small function below (a polars predicate or a frame
transform); `observed_recurrence` applies them in order and keeps, per child, what
each rule did (the audit) and, per state, how many records or children each rule
excluded. Everything is vectorised (joins, group_by, window expressions).

Choices on items the reference marks (unconfirmed), each switchable in
`RecurrenceOptions`:
  step 2   a report-child pair in both files keeps the later submission (`duplicate_keep`);
  step 4   children whose ID fails check 2 are dropped whole (`drop_dq_flagged_records`);
           the age flags count only at the initial report (step 8, section 2.2);
  step 9   14 days from the *initial* report (dictionary wording), `chained_14_day` for
           Round 3's comparison with the preceding record;
  step 10  a same-incident record is dropped and later records still count;
           `same_incident_first_subsequent_only` for Round 3 (only the first remaining
           follow-up is compared, and a match ends the child's recurrence);
  step 13  fatalities at the initial report stay in (`exclude_initial_fatality`);
  sec 2.2  six age groups (`age_grouping="single_years"` for Round 3's AgeMosyrs).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

import polars as pl

from cmi_assets.cfsr.ages import age_group, age_months_for_grouping, is_18_or_older, is_unborn
from cmi_assets.cfsr.dq import dq_checks_and_flagged_records, dq_status_by_state
from cmi_assets.reference.ncands_codes import DISPOSITION_LEVEL_COLUMNS, MALTREATMENT_DEATH_YES, is_victim_record

STATE, CHILD_ID, REPORT_ID, SUBMISSION_YEAR = "STATERR", "CHID", "RPTID", "SUBYR"
CHILD_KEY = [STATE, CHILD_ID]
RECORD_KEY = [STATE, REPORT_ID, CHILD_ID]

SAME_REPORT_DAYS = 14  # step 9: re-reports within 14 days are one victimization
RECURRENCE_WINDOW_DAYS = 365  # step 11: "12 months" is 365 days, leap years included
# The national performance the RSP and the reports compare a state with (here, not in rsp.py,
# so the reports can show it without loading the RSP model's optimiser).
NATIONAL_PERFORMANCE = 0.097  # recurrence NP, FY19-20 (indicator sheet)

# The Child File columns the indicator and the DQ checks read, typed as the sources
# layer delivers them (child_protection.yaml, record type ncands_child).
CHILD_FILE_SCHEMA: dict[str, pl.DataType] = {
    SUBMISSION_YEAR: pl.Int64(),
    STATE: pl.String(),
    REPORT_ID: pl.String(),
    CHILD_ID: pl.String(),
    "RPTDT": pl.Date(),
    "CHAGE": pl.Int64(),
    "CHBDATE": pl.Date(),
    "CHSEX": pl.String(),
    **{column: pl.String() for column in DISPOSITION_LEVEL_COLUMNS},
    "MALDEATH": pl.String(),
    "INCIDDT": pl.Date(),
}

RECORD_COLUMNS = [
    SUBMISSION_YEAR,
    STATE,
    REPORT_ID,
    CHILD_ID,
    "RPTDT",
    "CHAGE",
    "CHBDATE",
    *DISPOSITION_LEVEL_COLUMNS,
    "MALDEATH",
    "INCIDDT",
]


@dataclass(frozen=True)
class RecurrenceOptions:
    chained_14_day: bool = False  # step 9: Round 3 port behaviour; default = dictionary wording
    exclude_initial_fatality: bool = False  # step 13, off by default
    age_grouping: str = "six_groups"  # or "single_years" (section 2.2, unconfirmed)
    drop_dq_flagged_records: bool = True  # step 4
    same_incident_first_subsequent_only: bool = False  # step 10: Round 3 port behaviour
    duplicate_keep: str = "later"  # step 2: "later" or "earlier" submission of a record

    def __post_init__(self) -> None:
        if self.duplicate_keep not in ("later", "earlier"):
            raise ValueError("duplicate_keep must be 'later' or 'earlier'")


@dataclass
class RecurrenceResult:
    """`audit` carries CHID and RPTID (identifying agency IDs): it belongs to the
    identified zone; `by_state`, `national` and `dq` hold counts and rates only."""

    by_state: pl.DataFrame  # one row per state: counts, observed, dq_status, excluded_<rule>
    audit: pl.DataFrame  # one row per victim child: what each rule did to it
    national: pl.DataFrame  # pooled over states (step 12)
    dq: pl.DataFrame  # the DQ table of `dq_checks` for the two files
    fy: int
    options: RecurrenceOptions = field(default_factory=RecurrenceOptions)


# --- period ------------------------------------------------------------------------


def period_label(fy: int) -> str:
    """'FY19-20' for cohort FY2019 (files FY2019 and FY2020), as on the data profile."""
    return f"FY{fy % 100:02d}-{(fy + 1) % 100:02d}"


def cohort_period(fy: int) -> tuple[dt.date, dt.date]:
    """First and last day of federal fiscal year `fy`: 10/1/(fy-1) to 9/30/fy."""
    return dt.date(fy - 1, 10, 1), dt.date(fy, 9, 30)


# --- steps 1-2: files and record unit ------------------------------------------------


def check_submission_year(file: pl.DataFrame, expected: int, role: str) -> None:
    """Step 1: file t holds SUBYR t and file t+1 holds SUBYR t+1, nothing else."""
    wrong = file.filter(pl.col(SUBMISSION_YEAR) != expected).height
    if wrong:
        raise ValueError(f"NCANDS child file {role}: {wrong} rows have SUBYR other than FY{expected}")


def deduplicate_across_files(
    file_t: pl.DataFrame, file_t1: pl.DataFrame, keep: str = "later"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Step 2: a report-child pair (StaTerr, RptID, ChID) found in both files is kept
    once, from the later submission by default (unconfirmed). Returns (records, the
    copies removed)."""
    kept_file, other_file = (file_t1, file_t) if keep == "later" else (file_t, file_t1)
    kept_keys = kept_file.select(RECORD_KEY)
    removed = other_file.join(kept_keys, on=RECORD_KEY, how="semi")
    records = pl.concat([kept_file, other_file.join(kept_keys, on=RECORD_KEY, how="anti")])
    return records, removed


# --- step 3: victims -------------------------------------------------------------------


# The victim rule is NCANDS code semantics the generator shares: reference/ncands_codes.py.


# --- step 4: DQ-flagged children -------------------------------------------------------


def dq_flagged_children(flagged_records: pl.DataFrame) -> pl.DataFrame:
    """Step 4: children (StaTerr, ChID) with a record flagged by the DQ checks, with the
    reasons (see `dq.dq_flagged_records`). Only an ID matched across the files with a sex
    or DOB conflict drops the child whole (`dq_flagged`): it says nothing of one report
    but of who the child is. A missing age or an age 0 without DOB is a fact about one
    report, and the rules use age only at the initial report (section 2.2, "age at
    initial victimization"): there step 8 excludes the child (`excluded_no_age_group`);
    on any other record, before the window, a follow-up or one after 365 days, it
    excludes nothing (the audit keeps the flags)."""
    return flagged_records.group_by(CHILD_KEY).agg(
        dq_flagged=pl.col("flag_id_mismatch").any(),
        dq_flag_id_mismatch=pl.col("flag_id_mismatch").any(),
        dq_flag_missing_age=pl.col("flag_missing_age").any(),
        dq_flag_infant_without_dob=pl.col("flag_infant_without_dob").any(),
    )


# --- steps 5-6: record filters ---------------------------------------------------------


def is_before_window_start(fy: int) -> pl.Expr:
    """Step 5: report date before 10/1/(fy-1). No look-back: earlier history is ignored."""
    return (pl.col("RPTDT") < cohort_period(fy)[0]).fill_null(False)


def is_adult_at_report() -> pl.Expr:
    """Step 6: aged 18 or older at this report (ChAge > 17 or DOB + 18 y <= RptDt)."""
    return is_18_or_older("CHAGE", "CHBDATE", "RPTDT")


# --- steps 7, 8, 13: the initial victimization ------------------------------------------


def order_victim_records(records: pl.DataFrame) -> pl.DataFrame:
    """Victim records sorted by child, report date and report ID, with `child_seq`
    numbering the children and `is_initial` marking each child's first row (step 7:
    the earliest remaining victim record; same-day ties broken by report ID, so the
    choice is reproducible). Sorting once serves steps 7 and 9-11."""
    ordered = records.sort([*CHILD_KEY, "RPTDT", REPORT_ID], nulls_last=True)
    new_child = (pl.col(STATE) != pl.col(STATE).shift(1)) | (pl.col(CHILD_ID) != pl.col(CHILD_ID).shift(1))
    return ordered.with_columns(is_initial=new_child.fill_null(True)).with_columns(
        child_seq=pl.col("is_initial").cum_sum().cast(pl.Int64)
    )


def initial_victimizations(ordered: pl.DataFrame) -> pl.DataFrame:
    """Step 7: one row per child, its initial victim record (from `order_victim_records`)."""
    return ordered.filter(pl.col("is_initial")).select(
        "child_seq",
        *CHILD_KEY,
        pl.col(REPORT_ID).alias("initial_rptid"),
        pl.col("RPTDT").alias("initial_rptdt"),
        pl.col("INCIDDT").alias("initial_inciddt"),
        pl.col("CHAGE").alias("initial_chage"),
        pl.col("CHBDATE").alias("initial_chbdate"),
        pl.col("MALDEATH").alias("initial_maldeath"),
    )


def is_initial_after_period(fy: int) -> pl.Expr:
    """Step 7: the initial report falls after 9/30/fy, so the child is not in cohort fy."""
    return pl.col("initial_rptdt") > cohort_period(fy)[1]


def is_unborn_at_initial() -> pl.Expr:
    """Step 8: ChAge 77 or DOB after the initial report date (a Round 4 change: Round 3
    recoded unborn children to 0-3 months)."""
    return is_unborn("initial_chage", "initial_chbdate", "initial_rptdt")


def initial_age(grouping: str) -> list[pl.Expr]:
    """Section 2.2: age in months at the initial report and its risk-adjustment group."""
    months = age_months_for_grouping("initial_chage", "initial_chbdate", "initial_rptdt")
    return [months.alias("age_months"), age_group(months, grouping).alias("age_group")]


def is_initial_fatality() -> pl.Expr:
    """Step 13 (option): the child died of maltreatment at the initial report."""
    return (pl.col("initial_maldeath") == MALTREATMENT_DEATH_YES).fill_null(False)


# --- steps 9-11: follow-up records -----------------------------------------------------


def days_since_initial() -> pl.Expr:
    """d = RptDt - initial RptDt in days."""
    return (pl.col("RPTDT") - pl.col("initial_rptdt")).dt.total_days()


def days_since_previous_victim_record() -> pl.Expr:
    """Days from the child's immediately preceding victim record (the initial included),
    computed before any follow-up is dropped (Round 3 port). Needs the records of
    `order_victim_records`."""
    return pl.when(~pl.col("is_initial")).then(pl.col("RPTDT").diff().dt.total_days())


def is_within_14_days_of_initial() -> pl.Expr:
    """Step 9, dictionary wording (default): 0 <= d <= 14 from the initial report."""
    return pl.col("days_since_initial") <= SAME_REPORT_DAYS


def is_within_14_days_chained() -> pl.Expr:
    """Step 9, Round 3 port (`chained_14_day`): within 14 days of the preceding victim
    record, so a run of re-reports every few days rolls up into the initial one."""
    return (pl.col("days_since_previous") <= SAME_REPORT_DAYS) | is_within_14_days_of_initial()


def is_same_incident_as_initial() -> pl.Expr:
    """Step 10: incident date equals the initial report's, both present (incident
    dates serve only this duplicate check)."""
    return (pl.col("INCIDDT") == pl.col("initial_inciddt")).fill_null(False)


def is_within_recurrence_window() -> pl.Expr:
    """Step 11: 14 < d <= 365 days (days, not calendar months)."""
    return (pl.col("days_since_initial") > SAME_REPORT_DAYS) & (pl.col("days_since_initial") <= RECURRENCE_WINDOW_DAYS)


# --- the indicator ---------------------------------------------------------------------


def _split(frame: pl.DataFrame, dropped: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept, dropped) rows of `frame` by a predicate."""
    flagged = frame.with_columns(_dropped=dropped)
    return (
        flagged.filter(~pl.col("_dropped")).drop("_dropped"),
        flagged.filter(pl.col("_dropped")).drop("_dropped"),
    )


def _records_per_child(records: pl.DataFrame, name: str) -> pl.DataFrame:
    return records.group_by(CHILD_KEY).agg(pl.len().cast(pl.Int64).alias(name))


def _records_per_state(records: pl.DataFrame, name: str) -> pl.DataFrame:
    return records.group_by(STATE).agg(pl.len().cast(pl.Int64).alias(name))


def follow_up_outcomes(ordered: pl.DataFrame, cohort: pl.DataFrame, options: RecurrenceOptions) -> pl.DataFrame:
    """Steps 9-11 for the children in the denominator (`cohort`, one row per child):
    per child_seq, records dropped by the 14-day and same-incident rules, records after
    365 days, and recurrence."""
    follow_ups = (
        ordered.join(
            cohort.select("child_seq", "initial_rptdt", "initial_inciddt"), on="child_seq", maintain_order="left"
        )
        .with_columns(days_since_initial=days_since_initial(), days_since_previous=days_since_previous_victim_record())
        .filter(~pl.col("is_initial"))
    )
    within_14 = is_within_14_days_chained() if options.chained_14_day else is_within_14_days_of_initial()
    follow_ups = follow_ups.with_columns(dropped_14_day=within_14)
    same_incident = is_same_incident_as_initial() & ~pl.col("dropped_14_day")
    if options.same_incident_first_subsequent_only:
        # Round 3: only the first follow-up left after the 14-day rule is compared; a
        # match sets recur = 0, i.e. every later follow-up is dropped with it.
        first_left = (~pl.col("dropped_14_day")).cum_sum().over("child_seq") == 1
        same_incident = (same_incident & first_left).any().over("child_seq") & ~pl.col("dropped_14_day")
    follow_ups = follow_ups.with_columns(dropped_same_incident=same_incident)
    counted = ~pl.col("dropped_14_day") & ~pl.col("dropped_same_incident")
    return follow_ups.group_by("child_seq").agg(
        n_dropped_14_day=pl.col("dropped_14_day").sum().cast(pl.Int64),
        n_dropped_same_incident=pl.col("dropped_same_incident").sum().cast(pl.Int64),
        n_beyond_365_days=(counted & (pl.col("days_since_initial") > RECURRENCE_WINDOW_DAYS)).sum().cast(pl.Int64),
        recur=(counted & is_within_recurrence_window()).any(),
        days_to_recurrence=pl.col("days_since_initial").filter(counted & is_within_recurrence_window()).min(),
    )


AUDIT_COUNT_COLUMNS = [
    "n_dropped_no_report_date",
    "n_dropped_before_window",
    "n_dropped_age_18_plus",
    "n_dropped_14_day",
    "n_dropped_same_incident",
    "n_beyond_365_days",
]
AUDIT_FLAG_COLUMNS = [
    "dq_flagged",
    "dq_flag_id_mismatch",
    "dq_flag_missing_age",
    "dq_flag_infant_without_dob",
    "excluded_dq_flagged",
    "excluded_no_record_in_window",
    "excluded_initial_after_period",
    "excluded_unborn",
    "excluded_no_age_group",
    "excluded_initial_fatality",
    "in_denominator",
    "recur",
]


class Exclusion(NamedTuple):
    """One by_state exclusion count: its column, the audit column it sums (None: counted
    from the dropped records), what it counts and the rule (section 2.1)."""

    column: str
    audit_source: str | None
    unit: str
    rule: str


# by_state exclusion counts, in rule order.
BY_STATE_EXCLUSIONS = [
    Exclusion(
        "excluded_duplicate_records",
        None,
        "records",
        "step 2: report-child pairs (StaTerr, RptID, ChID) in both files; the copy from the other submission",
    ),
    Exclusion(
        "excluded_non_victim_records",
        None,
        "records",
        "step 3: records with no disposition level substantiated (1) or indicated (2) and no maltreatment "
        "death: AR victims and non-victims, unsubstantiated, closed, no alleged maltreatment, other/unknown",
    ),
    Exclusion(
        "excluded_dq_flagged_children",
        "excluded_dq_flagged",
        "children",
        "step 4: victims whose ID matched across the files with a sex or DOB conflict, all their records "
        "dropped (a missing age or age 0 without DOB excludes a child only at its initial report: step 8)",
    ),
    Exclusion(
        "excluded_no_report_date_records",
        "n_dropped_no_report_date",
        "records",
        "steps 5-7: victim records without a report date (cannot be placed in the period)",
    ),
    Exclusion(
        "excluded_before_window_records",
        "n_dropped_before_window",
        "records",
        "step 5: victim records reported before 1 October of the period (no look-back)",
    ),
    Exclusion(
        "excluded_age_18_plus_records",
        "n_dropped_age_18_plus",
        "records",
        "step 6: victim records at age 18 or older at the report (ChAge > 17 or DOB + 18 y <= RptDt)",
    ),
    Exclusion(
        "excluded_no_record_in_window_children",
        "excluded_no_record_in_window",
        "children",
        "steps 5-6: victims with no record left once records before the period or at 18+ are dropped",
    ),
    Exclusion(
        "excluded_initial_after_period_children",
        "excluded_initial_after_period",
        "children",
        "step 7: initial victimization after 30 September of the period (in a later cohort)",
    ),
    Exclusion(
        "excluded_unborn_children",
        "excluded_unborn",
        "children",
        "step 8: unborn at the initial report (ChAge 77 or DOB after the report date)",
    ),
    Exclusion(
        "excluded_no_age_group_children",
        "excluded_no_age_group",
        "children",
        "step 8 / section 2.2: age group cannot be set at the initial report (age 0 without DOB, or neither "
        "age nor DOB)",
    ),
    Exclusion(
        "excluded_initial_fatality_children",
        "excluded_initial_fatality",
        "children",
        "step 13: died of maltreatment at the initial report (0 unless exclude_initial_fatality is on)",
    ),
    Exclusion(
        "excluded_14_day_records",
        "n_dropped_14_day",
        "records",
        "step 9: follow-up victim records 0-14 days after the initial report (the same victimization)",
    ),
    Exclusion(
        "excluded_same_incident_records",
        "n_dropped_same_incident",
        "records",
        "step 10: follow-up victim records with the initial report's incident date",
    ),
    Exclusion(
        "excluded_beyond_365_days_records",
        "n_beyond_365_days",
        "records",
        "step 11: follow-up victim records more than 365 days after the initial report",
    ),
]


def observed_recurrence(
    file_t: pl.DataFrame,
    file_t1: pl.DataFrame,
    fy: int,
    options: RecurrenceOptions = RecurrenceOptions(),
) -> RecurrenceResult:
    """Observed recurrence of maltreatment for cohort FY `fy` from the NCANDS Child Files
    of SUBYR fy (`file_t`) and fy+1 (`file_t1`), all states (section 2.1).

    by_state: state, period, denominator, numerator, observed (null for a DQ
      state-period, step 4, or no children), dq_status, excluded_<rule>_<unit> per rule.
    audit: one row per child with a victim record in either file: initial report,
      age, and per rule whether it excluded the child or how many records it dropped.
    national: the pooled rate over DQ-passing states (step 12) and over all states.
    """
    check_submission_year(file_t, fy, "file t")
    check_submission_year(file_t1, fy + 1, "file t+1")
    dq_table, flagged_records = dq_checks_and_flagged_records(file_t, file_t1, fy)

    # Steps 1-3: both files, one copy per report-child pair, victim records only.
    records, duplicates = deduplicate_across_files(
        file_t.select(RECORD_COLUMNS), file_t1.select(RECORD_COLUMNS), options.duplicate_keep
    )
    victims, non_victims = _split(records, ~is_victim_record())
    audit = victims.group_by(CHILD_KEY).agg(n_victim_records=pl.len().cast(pl.Int64))

    # Step 4: DQ-flagged children.
    audit = (
        audit.join(dq_flagged_children(flagged_records), on=CHILD_KEY, how="left")
        .with_columns(pl.col("^dq_flag.*$").fill_null(False))
        .with_columns(excluded_dq_flagged=pl.col("dq_flagged") & options.drop_dq_flagged_records)
    )
    remaining = victims.join(audit.filter(pl.col("excluded_dq_flagged")).select(CHILD_KEY), on=CHILD_KEY, how="anti")

    # Steps 5-6: record filters. A record without a report date cannot be placed in time
    # (the raw layer requires RPTDT; a library caller may not): dropped and counted.
    remaining, no_report_date = _split(remaining, pl.col("RPTDT").is_null())
    remaining, before_window = _split(remaining, is_before_window_start(fy))
    remaining, adult = _split(remaining, is_adult_at_report())

    # Steps 7, 8, 13 and section 2.2: the initial victimization decides who is counted.
    # Each child is attributed to the first rule that excludes it.
    ordered = order_victim_records(remaining)
    initial = initial_victimizations(ordered).with_columns(initial_age(options.age_grouping))
    after_period = is_initial_after_period(fy)
    unborn = ~after_period & is_unborn_at_initial()
    no_age_group = ~after_period & ~unborn & pl.col("age_group").is_null()
    fatality = ~after_period & ~unborn & ~no_age_group & is_initial_fatality() & options.exclude_initial_fatality
    initial = initial.with_columns(
        excluded_initial_after_period=after_period,
        excluded_unborn=unborn,
        excluded_no_age_group=no_age_group,
        excluded_initial_fatality=fatality,
    ).with_columns(in_denominator=~(after_period | unborn | no_age_group | fatality))
    cohort = initial.filter(pl.col("in_denominator"))

    # Steps 9-11: follow-up victim records of the children in the denominator.
    outcomes = follow_up_outcomes(ordered, cohort, options)
    initial = initial.join(outcomes, on="child_seq", how="left")

    audit = (
        audit.join(_records_per_child(no_report_date, "n_dropped_no_report_date"), on=CHILD_KEY, how="left")
        .join(_records_per_child(before_window, "n_dropped_before_window"), on=CHILD_KEY, how="left")
        .join(_records_per_child(adult, "n_dropped_age_18_plus"), on=CHILD_KEY, how="left")
        .join(
            initial.select(
                *CHILD_KEY,
                "initial_rptid",
                "initial_rptdt",
                "age_months",
                "age_group",
                "excluded_initial_after_period",
                "excluded_unborn",
                "excluded_no_age_group",
                "excluded_initial_fatality",
                "in_denominator",
                *outcomes.columns[1:],
            ),
            on=CHILD_KEY,
            how="left",
        )
        .with_columns(
            excluded_no_record_in_window=~pl.col("excluded_dq_flagged") & pl.col("initial_rptid").is_null(),
        )
        .with_columns(pl.col(AUDIT_COUNT_COLUMNS).fill_null(0), pl.col(AUDIT_FLAG_COLUMNS).fill_null(False))
        .with_columns(pl.col("days_to_recurrence").cast(pl.Int64))
        .sort(CHILD_KEY)
    )
    states_by_file = {f"FY{year}": file[STATE].unique().to_list() for year, file in ((fy, file_t), (fy + 1, file_t1))}
    by_state = _by_state(audit, duplicates, non_victims, dq_status_by_state(dq_table, states_by_file), records, fy)
    return RecurrenceResult(
        by_state=by_state,
        audit=audit.select(_audit_column_order(audit)),
        national=_national(by_state, fy),
        dq=dq_table,
        fy=fy,
        options=options,
    )


def _audit_column_order(audit: pl.DataFrame) -> list[str]:
    first = [
        *CHILD_KEY,
        "initial_rptid",
        "initial_rptdt",
        "age_months",
        "age_group",
        "in_denominator",
        "recur",
        "days_to_recurrence",
        "n_victim_records",
    ]
    return first + [c for c in audit.columns if c not in first]


def _by_state(
    audit: pl.DataFrame,
    duplicates: pl.DataFrame,
    non_victims: pl.DataFrame,
    dq_status: pl.DataFrame,
    records: pl.DataFrame,
    fy: int,
) -> pl.DataFrame:
    """Step 12 per state, with the exclusions of every rule."""
    # every state in either file: one with no victims, or only in one file, still gets its row
    states = pl.concat(
        [records.select(STATE), duplicates.select(STATE), dq_status.select(pl.col("state").alias(STATE))]
    ).unique()
    from_audit = [(e.column, e.audit_source) for e in BY_STATE_EXCLUSIONS if e.audit_source is not None]
    counts = audit.group_by(STATE).agg(
        *[pl.col(source).cast(pl.Int64).sum().alias(column) for column, source in from_audit],
        denominator=pl.col("in_denominator").sum().cast(pl.Int64),
        numerator=(pl.col("in_denominator") & pl.col("recur")).sum().cast(pl.Int64),
    )
    table = (
        states.join(counts, on=STATE, how="left")
        .join(_records_per_state(duplicates, "excluded_duplicate_records"), on=STATE, how="left")
        .join(_records_per_state(non_victims, "excluded_non_victim_records"), on=STATE, how="left")
        .rename({STATE: "state"})
        .join(dq_status, on="state", how="left")
    )
    count_columns = ["denominator", "numerator"] + [e.column for e in BY_STATE_EXCLUSIONS]
    publishable = (pl.col("dq_status") == "pass") & (pl.col("denominator") > 0)
    return (
        table.with_columns(pl.col(count_columns).fill_null(0), pl.col("dq_status").fill_null("pass"))
        .with_columns(
            period=pl.lit(period_label(fy)),
            observed=pl.when(publishable).then(pl.col("numerator") / pl.col("denominator")),
        )
        .select("state", "period", "denominator", "numerator", "observed", "dq_status", "dq_reason", *count_columns[2:])
        .sort("state")
    )


def _national(by_state: pl.DataFrame, fy: int) -> pl.DataFrame:
    """Step 12 pooled: Σ recur / Σ children over DQ-passing states, and over all states."""
    passing = pl.col("dq_status") == "pass"
    return by_state.select(
        period=pl.lit(period_label(fy)),
        n_states=passing.sum().cast(pl.Int64),
        denominator=pl.col("denominator").filter(passing).sum(),
        numerator=pl.col("numerator").filter(passing).sum(),
        n_states_all=pl.len().cast(pl.Int64),
        denominator_all=pl.col("denominator").sum(),
        numerator_all=pl.col("numerator").sum(),
    ).with_columns(
        observed=pl.when(pl.col("denominator") > 0).then(pl.col("numerator") / pl.col("denominator")),
        observed_all_states=pl.when(pl.col("denominator_all") > 0).then(
            pl.col("numerator_all") / pl.col("denominator_all")
        ),
    )
