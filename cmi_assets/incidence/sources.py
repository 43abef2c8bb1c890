"""Which agency recorded each child of a birth cohort, and at what age: the child-level
table behind every incidence figure (analysis zone, keyed by person_key only).

The children are the cohort's study population (cohorts.population: birth registered or
on a caregiver's benefit by 3 months), with sex and ethnicity from the spine's person row
and the deprivation decile and county of the birth registration's postcode. A source
records a child at the first of its events at an age of 0 days or more (the cohort
library's rules, one place each):

- `cp_finding`: a substantiated finding of maltreatment (NZ para 41), dated by its
  notification (cohorts.cp.findings_with_dates);
- `cp_notification`: a CP notification from any notifier but police family violence;
- `police_fv`: a police family-violence notification or contact record (cohorts.cp);
- `hospital`: a maltreatment-injury admission (maltreatment syndrome or assault cause) at
  any age, or an intracranial injury or long-bone fracture before age 1 with no external
  cause recorded; same-day stays excluded. This is target E's hospital rule (NZ Table 10
  note 3, cohorts.outcomes) less the marker injuries an accident explains: a list of cases
  must not count a fall.

The multiple-systems lists are agencies, not record types: `cp` (a finding or a
notification: every finding follows a notification, so the two are not separate lists),
`police_fv` and `hospital`.

Follow-up ends at the data's extent (the latest notification date, as the cohort tables
take it) or at 5 years of age; the analysis zone records no deaths or emigration, so
nothing else censors.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from cmi_assets.cohorts.cp import findings_with_dates, is_family_violence_record, is_substantiated
from cmi_assets.cohorts.events import check_linkage_level, load_rows
from cmi_assets.cohorts.hospital import is_maltreatment_admission, is_marker_injury, is_short_stay
from cmi_assets.cohorts.outcomes import MARKER_INJURY_MAX_AGE_YEARS, latest_notification_date
from cmi_assets.cohorts.population import cohort_population
from cmi_assets.cohorts.windows import age_days_at, birth_reference_day, day, under_age, years_in_days

SOURCES = ("cp_finding", "cp_notification", "police_fv", "hospital")
ANY = "any"  # the unduplicated union: a child recorded by at least one source
SOURCE_LABELS = {
    "cp_finding": "CP finding",
    "cp_notification": "CP notification",
    "police_fv": "Police FV contact",
    "hospital": "Hospital (maltreatment injury)",
    ANY: "Any agency",
}
# multiple-systems lists: list -> the sources it unites
LISTS: dict[str, tuple[str, ...]] = {
    "cp": ("cp_finding", "cp_notification"),
    "police_fv": ("police_fv",),
    "hospital": ("hospital",),
}
MAX_AGE_YEARS = 5
GROUP_COLUMNS = ("sex", "ethnicity", "deprivation_decile", "county_fips")


def first_age_column(source: str) -> str:
    return f"first_age_days_{source}"


def source_events(
    children: pl.DataFrame, notifications: pl.DataFrame, findings: pl.DataFrame, hospitalisations: pl.DataFrame
) -> pl.DataFrame:
    """person_key, source, age_days: every event of the four sources of `children` (which
    carry person_key and ref_day), at ages of 0 days or more."""
    ref = children.select("person_key", "ref_day")
    dated = findings_with_dates(findings, notifications).join(ref, on="person_key")
    found = dated.filter(is_substantiated()).select(
        "person_key",
        pl.lit("cp_finding").alias("source"),
        age_days_at(pl.col("event_day"), pl.col("event_age_days"), pl.col("ref_day")).alias("age_days"),
    )
    notes = notifications.join(ref, on="person_key").with_columns(
        age_days_at(day("notification_date"), pl.col("age_days"), pl.col("ref_day")).alias("_age"),
        is_family_violence_record().alias("_fv"),
    )
    noted = notes.select(
        "person_key",
        pl.when(pl.col("_fv")).then(pl.lit("police_fv")).otherwise(pl.lit("cp_notification")).alias("source"),
        pl.col("_age").alias("age_days"),
    )
    admitted = maltreatment_admissions(children, hospitalisations)
    events = pl.concat([found, noted, admitted], how="vertical_relaxed")
    return events.filter(pl.col("age_days") >= 0).cast({"age_days": pl.Int64})


def maltreatment_admissions(children: pl.DataFrame, hospitalisations: pl.DataFrame) -> pl.DataFrame:
    """person_key, source `hospital`, age_days of the admissions the hospital list counts."""
    dated = (
        hospitalisations.join(children.select("person_key", "ref_day"), on="person_key")
        .with_columns(age_days_at(day("admit_date"), pl.col("age_days"), pl.col("ref_day")).alias("_age"))
        .filter(~is_short_stay(day("admit_date"), day("discharge_date")))
    )
    unexplained_marker = (
        is_marker_injury()
        & pl.col("external_cause_code").is_null()
        & under_age(pl.col("_age"), MARKER_INJURY_MAX_AGE_YEARS)
    )
    return dated.filter(is_maltreatment_admission() | unexplained_marker).select(
        "person_key", pl.lit("hospital").alias("source"), pl.col("_age").cast(pl.Int64).alias("age_days")
    )


def first_ages(children: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """One row per child: `first_age_days_<source>` for each source and for `any` (null:
    never recorded)."""
    first = events.group_by("person_key", "source").agg(pl.col("age_days").min())
    wide = children.select("person_key")
    for source in SOURCES:
        mine = first.filter(pl.col("source") == source).select(
            "person_key", pl.col("age_days").alias(first_age_column(source))
        )
        wide = wide.join(mine, on="person_key", how="left")
    return wide.with_columns(pl.min_horizontal(*[first_age_column(s) for s in SOURCES]).alias(first_age_column(ANY)))


def cohort_children(con, birth_year: int, linkage_level: str, observation_end: dt.date | None = None) -> pl.DataFrame:
    """The child-level table of one cohort and linkage level: person_key, birth year and
    month, sex, ethnicity, deprivation decile, county, `follow_up_days` (to the data's
    extent, at most 5 years) and the first age at each source."""
    check_linkage_level(linkage_level)
    population = cohort_population(con, birth_year, linkage_level)
    children = population.select("person_key", "birth_year", "birth_month", "sex", "ethnicity").with_columns(
        birth_reference_day().alias("ref_day")
    )
    keys = children["person_key"]
    births = (
        load_rows(con, "birth", linkage_level, "child_key", keys)
        .sort("child_key", "registration_age_days", nulls_last=True)
        .unique("child_key", keep="first")
        .select(pl.col("child_key").alias("person_key"), "deprivation_decile", "county_fips")
    )
    children = children.join(births, on="person_key", how="left")
    events = source_events(
        children,
        load_rows(con, "cp_notification", linkage_level, "person_key", keys),
        load_rows(con, "cp_finding", linkage_level, "person_key", keys),
        load_rows(con, "hospitalisation", linkage_level, "person_key", keys),
    )
    end = observation_end if observation_end is not None else latest_notification_date(con, linkage_level)
    end_day = (end - dt.date(1970, 1, 1)).days if end is not None else None
    return child_table(children, events, end_day)


def child_table(children: pl.DataFrame, events: pl.DataFrame, observation_end_day: int | None) -> pl.DataFrame:
    """`children` (person_key, ref_day, birth_year, groups) with follow-up and first ages."""
    cap = math.ceil(years_in_days(MAX_AGE_YEARS))
    follow = (
        pl.lit(cap)
        if observation_end_day is None
        else pl.min_horizontal(pl.lit(observation_end_day) - pl.col("ref_day"), pl.lit(cap)).clip(lower_bound=0)
    )
    out = children.with_columns(follow.cast(pl.Int64).alias("follow_up_days")).join(
        first_ages(children, events), on="person_key", how="left"
    )
    columns = ["person_key", "birth_year", "birth_month", *GROUP_COLUMNS, "follow_up_days"]
    return out.select(*columns, *[first_age_column(s) for s in (*SOURCES, ANY)]).sort("person_key")


def recorded_by_age(children: pl.DataFrame, source: str, years: float = MAX_AGE_YEARS) -> pl.Expr:
    """A child recorded by `source` (a source, `any`, or a list of LISTS) before age `years`."""
    parts = LISTS.get(source, (source,))
    limit = years_in_days(years)
    return pl.any_horizontal([(pl.col(first_age_column(s)) < limit).fill_null(False) for s in parts])


def observed_to_age(years: float = MAX_AGE_YEARS) -> pl.Expr:
    """Followed up to age `years` (the data reach the child's birthday)."""
    return pl.col("follow_up_days") >= years_in_days(years)
