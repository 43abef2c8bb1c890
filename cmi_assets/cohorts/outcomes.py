"""Care-and-protection outcomes of the cohort by age 1..5 (NZ study para 41, Figure 1 and
Table 10 targets A-E), as flags (children) and counts (events: "counting events rather
than children", para 73):

- A `finding`: a substantiated finding of maltreatment (emotional, physical, sexual abuse
  or neglect; para 41), one event per investigation;
- B `notification`: a notification, including police FV notifications, and FV contact
  records of children already known to CP (Table 10 note 2);
- C `investigation`: an investigation or Child and Family Assessment;
- D `target_d`: a substantiated finding of physical or sexual abuse or neglect;
- E `target_e`: a substantiated finding of physical abuse, or a hospitalisation for
  maltreatment injury, or for intracranial injury or long-bone fracture by age 1, short-stay
  emergency admissions excluded (Table 10 note 3).

Findings and investigations are dated by their notification (windows.py: "by age k" =
age_days < 365.25k, events before birth excluded). An age k is observable once the child's
birth reference date plus k years is on or before the observation end; later ages are null.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from cmi_assets.cohorts.cp import (
    FV_CONTACT_RECORD,
    INVESTIGATION_RESPONSES,
    MALTREATMENT_TYPES,
    PHYSICAL_SEXUAL_NEGLECT,
    findings_with_dates,
    is_substantiated,
    notification_age_days,
)
from cmi_assets.cohorts.events import SCHEMA, check_linkage_level, load_rows
from cmi_assets.cohorts.hospital import is_maltreatment_admission, is_marker_injury, is_short_stay
from cmi_assets.cohorts.population import cohort_population
from cmi_assets.cohorts.windows import age_days_at, birth_reference_day, day, under_age, years_in_days

OUTCOME_AGES = (1, 2, 3, 4, 5)
MARKER_INJURY_MAX_AGE_YEARS = 1
# Table 10 target -> outcome name
TARGETS = {"A": "finding", "B": "notification", "C": "investigation", "D": "target_d", "E": "target_e"}
TARGET_LABELS = {
    "A": "Substantiated maltreatment",
    "B": "Notifications",
    "C": "Investigations or Child and Family Assessments",
    "D": "Substantiated physical or sexual abuse or neglect",
    "E": "Substantiated physical abuse or maltreatment or marker injury hospitalisation",
}
EVENT_COLUMNS = ["person_key", "outcome", "event_id", "age_days"]


def outcome_column(target_or_name: str, age: int, events: bool = False) -> str:
    """Column name of a target ("A".."E") or outcome name by an age: flag or event count."""
    name = TARGETS.get(target_or_name, target_or_name)
    return f"n_{name}_events_by_age_{age}" if events else f"{name}_by_age_{age}"


def _events(frame: pl.DataFrame, outcome: str, event_id: str, age: pl.Expr) -> pl.DataFrame:
    return frame.select(
        "person_key",
        pl.lit(outcome).alias("outcome"),
        pl.col(event_id).cast(pl.String).alias("event_id"),
        age.alias("age_days"),
    )


def finding_events(children: pl.DataFrame, findings: pl.DataFrame, notifications: pl.DataFrame) -> pl.DataFrame:
    """Targets A, C, D and the physical-abuse part of E, one event per investigation."""
    dated = findings_with_dates(findings, notifications).join(children.select("person_key", "ref_day"), on="person_key")
    age = age_days_at(pl.col("event_day"), pl.col("event_age_days"), pl.col("ref_day"))
    return pl.concat(
        [
            _events(dated.filter(is_substantiated(MALTREATMENT_TYPES)), "finding", "investigation_key", age),
            _events(
                dated.filter(pl.col("response").is_in(list(INVESTIGATION_RESPONSES))),
                "investigation",
                "investigation_key",
                age,
            ),
            _events(dated.filter(is_substantiated(PHYSICAL_SEXUAL_NEGLECT)), "target_d", "investigation_key", age),
            _events(dated.filter(is_substantiated(("PHYSICAL",))), "target_e", "investigation_key", age),
        ]
    )


def notification_events(children: pl.DataFrame, notifications: pl.DataFrame) -> pl.DataFrame:
    """Target B: notifications (police FV notifications included), and FV contact records
    of a child with a notification on or before the contact record (known to CP)."""
    dated = notifications.join(children.select("person_key", "ref_day"), on="person_key").with_columns(
        notification_age_days(pl.col("ref_day")).alias("_age"), day("notification_date").alias("_day")
    )
    is_contact = pl.col("record_kind") == FV_CONTACT_RECORD
    first_known = dated.filter(~is_contact).group_by("person_key").agg(pl.col("_day").min().alias("_known_from"))
    counted = dated.join(first_known, on="person_key", how="left").filter(
        ~is_contact | (pl.col("_known_from") <= pl.col("_day")).fill_null(False)
    )
    return _events(counted, "notification", "event_key", pl.col("_age"))


def hospital_events(children: pl.DataFrame, hospitalisations: pl.DataFrame) -> pl.DataFrame:
    """The hospital part of target E: maltreatment injury admissions at any age, marker
    injuries under age 1; same-day (short-stay ED) admissions excluded."""
    dated = (
        hospitalisations.join(children.select("person_key", "ref_day"), on="person_key")
        .with_columns(
            age_days_at(day("admit_date"), pl.col("age_days"), pl.col("ref_day")).alias("_age"),
            pl.concat_str(
                [pl.lit("H"), day("admit_date").cast(pl.String), pl.col("diagnosis_code").fill_null("")], separator=":"
            ).alias("_id"),
        )
        .filter(~is_short_stay(day("admit_date"), day("discharge_date")))
    )
    marker_by_1 = is_marker_injury() & under_age(pl.col("_age"), MARKER_INJURY_MAX_AGE_YEARS)
    return _events(dated.filter(is_maltreatment_admission() | marker_by_1), "target_e", "_id", pl.col("_age"))


def outcomes_by_age(
    children: pl.DataFrame, events: pl.DataFrame, ages: tuple[int, ...], observation_end_day: int | None
) -> pl.DataFrame:
    """Flags and event counts per child, outcome and age; null where the age is not yet
    observable at `observation_end_day`."""
    first = events.group_by("person_key", "outcome", "event_id").agg(pl.col("age_days").min())
    columns = []
    for name in TARGETS.values():
        mine = first.filter(pl.col("outcome") == name)
        for age in ages:
            counts = (
                mine.filter(under_age(pl.col("age_days"), age))
                .group_by("person_key")
                .agg(pl.len().cast(pl.Int64).alias("n"))
            )
            columns.append((name, age, counts))
    out = children.select("person_key", "birth_year", "ref_day")
    for name, age, counts in columns:
        n = outcome_column(name, age, events=True)
        out = out.join(counts.rename({"n": n}), on="person_key", how="left").with_columns(pl.col(n).fill_null(0))
        out = out.with_columns((pl.col(n) > 0).alias(outcome_column(name, age)))
    if observation_end_day is not None:
        out = out.with_columns(
            [
                pl.when(pl.col("ref_day") + years_in_days(age) <= observation_end_day)
                .then(pl.col(column))
                .alias(column)
                for name in TARGETS.values()
                for age in ages
                for column in (outcome_column(name, age), outcome_column(name, age, events=True))
            ]
        )
    order = [
        outcome_column(name, age, events=as_count)
        for as_count in (False, True)
        for name in TARGETS.values()
        for age in ages
    ]
    return out.select("person_key", "birth_year", *order)


def latest_notification_date(con, linkage_level: str) -> dt.date | None:
    """The data's extent: the latest notification date at this level."""
    return con.execute(
        f"select max(notification_date) from {SCHEMA}.cp_notification where linkage_level = ?", [linkage_level]
    ).fetchone()[0]


def cohort_outcomes(
    con, birth_year: int, linkage_level: str, max_age: int = 5, observation_end: dt.date | None = None
) -> pl.DataFrame:
    """person_key, birth_year, `{outcome}_by_age_{k}` flags and `n_{outcome}_events_by_age_{k}`
    counts for k = 1..max_age and the outcomes of TARGETS. `observation_end` (default: the
    latest notification date in the data) nulls ages not yet observable."""
    check_linkage_level(linkage_level)
    population = cohort_population(con, birth_year, linkage_level)
    children = population.with_columns(birth_reference_day().alias("ref_day"))
    keys = children["person_key"]
    notifications = load_rows(con, "cp_notification", linkage_level, "person_key", keys)
    findings = load_rows(con, "cp_finding", linkage_level, "person_key", keys)
    hospitalisations = load_rows(con, "hospitalisation", linkage_level, "person_key", keys)
    events = pl.concat(
        [
            finding_events(children, findings, notifications),
            notification_events(children, notifications),
            hospital_events(children, hospitalisations),
        ]
    )
    end = observation_end if observation_end is not None else latest_notification_date(con, linkage_level)
    end_day = None if end is None else (end - dt.date(1970, 1, 1)).days
    return outcomes_by_age(children, events, tuple(range(1, max_age + 1)), end_day)
