"""The synthetic world's own answer, where a world has one (truth/children.parquet and
truth/maltreatment_episodes.parquet, read by the evaluation asset only): for a birth
cohort's study population followed up to age 5, how many children a list recorded and how
many were truly maltreated before age 5. Counts only leave this module."""

from __future__ import annotations

import datetime as dt

import polars as pl

from cmi_assets.cohorts.windows import years_in_days
from cmi_assets.incidence.sources import MAX_AGE_YEARS

RECORDINGS = ("cp_finding", "cp_notification", "police_fv", "hospital")
PER = 1000.0


def truth_headline(children: pl.DataFrame, episodes: pl.DataFrame, birth_year: int, observation_end: dt.date) -> dict:
    """population, known (recorded by an agency before age 5, from the episodes table),
    maltreated (a true episode before age 5) and their rates per 1,000. `children` is
    children.parquet (true_person_id, dob, birth_year, in_study_population)."""
    limit = years_in_days(MAX_AGE_YEARS)
    end = pl.lit(observation_end)
    cohort = children.filter(
        pl.col("in_study_population")
        & (pl.col("birth_year") == birth_year)
        & ((end - pl.col("dob")).dt.total_days() >= limit)
    ).select("true_person_id", "dob")
    e = episodes.join(cohort, on="true_person_id")
    age = lambda c: (pl.col(c) - pl.col("dob")).dt.total_days()  # noqa: E731
    before_5 = lambda c: ((age(c) >= 0) & (age(c) < limit)).fill_null(False)  # noqa: E731
    maltreated = e.filter(before_5("episode_date"))["true_person_id"].n_unique()
    known = e.filter(pl.any_horizontal([before_5(f"{name}_date") for name in RECORDINGS]))["true_person_id"].n_unique()
    population = cohort.height
    per = PER / population if population else float("nan")
    return {
        "population": population,
        "known": known,
        "known_per_1000": known * per,
        "total": maltreated,
        "total_per_1000": maltreated * per,
        "undetected": maltreated - known,
        "undetected_per_1000": (maltreated - known) * per,
    }
