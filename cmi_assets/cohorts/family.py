"""Who is who around a newborn, as known at 3 months of age (NZ study, Box 1):

- the birth-registration parents (mother, and father when listed) of a registration made
  by 3 months;
- the benefit caregivers who included the child in their benefit by 3 months, and their
  partners on a benefit spell running in the child's first 3 months;
- the primary caregiver: the first benefit caregiver (earliest claim), else the mother
  ("mother or primary benefit recipient", Box 1);
- other children: the other children of any of these adults (their birth registrations and
  benefit inclusions known by the child's 3 months), born in an earlier month than the
  child (so twins of one delivery are not "other children") and under 18 at the birth.

Frames use `person_key` for the cohort child, `adult_key` for an adult, `sibling_key` for
another child; `ref_day` is the child's birth reference day (windows.py).
"""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.windows import ADULT_AGE_YEARS, AT_3_MONTHS_DAYS, birth_reference_day, day, younger_than

REGISTRATION_COLUMNS = [
    "mother_key",
    "father_key",
    "plurality",
    "birth_weight_g",
    "gestation_weeks",
    "previous_children_same_parents",
    "deprivation_decile",
    "office_code",
]


def registration_by_3_months(births: pl.DataFrame) -> pl.DataFrame:
    """One row per child: its earliest birth registration made by 3 months of age."""
    return (
        births.filter(pl.col("registration_age_days") <= AT_3_MONTHS_DAYS)
        .sort("child_key", "registration_age_days", "mother_key", nulls_last=True)
        .unique("child_key", keep="first", maintain_order=True)
        .select(pl.col("child_key").alias("person_key"), *REGISTRATION_COLUMNS)
    )


def benefit_caregivers_by_3_months(inclusions: pl.DataFrame) -> pl.DataFrame:
    """Caregivers who claimed the child's inclusion in their benefit by 3 months of age:
    person_key, adult_key, relationship, claim_age_days (earliest claim per pair)."""
    return (
        inclusions.filter(pl.col("child_age_days_at_claim") <= AT_3_MONTHS_DAYS)
        .sort("child_key", "caregiver_key", "child_age_days_at_claim")
        .unique(["child_key", "caregiver_key"], keep="first", maintain_order=True)
        .select(
            pl.col("child_key").alias("person_key"),
            pl.col("caregiver_key").alias("adult_key"),
            "relationship",
            pl.col("child_age_days_at_claim").alias("claim_age_days"),
        )
    )


def partners_at_birth(children: pl.DataFrame, caregivers: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """Partners recorded on a benefit caregiver's spell that runs in the child's first
    3 months: person_key, adult_key."""
    running = (
        caregivers.select("person_key", "adult_key")
        .join(children.select("person_key", "ref_day"), on="person_key")
        .join(
            spells.select(
                pl.col("person_key").alias("adult_key"),
                day("spell_start").alias("start_day"),
                day("spell_end").alias("end_day"),
                "partner_key",
            ),
            on="adult_key",
        )
    )
    during = (pl.col("start_day") <= pl.col("ref_day") + AT_3_MONTHS_DAYS) & (
        pl.col("end_day").is_null() | (pl.col("end_day") >= pl.col("ref_day"))
    )
    return (
        running.filter(during & pl.col("partner_key").is_not_null())
        .select("person_key", pl.col("partner_key").alias("adult_key"))
        .unique()
    )


def primary_caregiver_keys(children: pl.DataFrame, caregivers: pl.DataFrame) -> pl.DataFrame:
    """person_key, primary_key: the earliest benefit caregiver, else the registration mother."""
    first_carer = caregivers.sort("person_key", "claim_age_days", "adult_key").unique(
        "person_key", keep="first", maintain_order=True
    )
    return (
        children.select("person_key", "mother_key")
        .join(first_carer.select("person_key", "adult_key"), on="person_key", how="left")
        .select("person_key", pl.coalesce("adult_key", "mother_key").alias("primary_key"))
    )


def parents_and_caregivers(children: pl.DataFrame, caregivers: pl.DataFrame, partners: pl.DataFrame) -> pl.DataFrame:
    """One row per (child, adult): registration_parent, benefit_caregiver, benefit_partner
    flags, the caregiver's relationship, and `primary` (mother or primary benefit recipient)."""
    mothers = children.filter(pl.col("mother_key").is_not_null()).select(
        "person_key", pl.col("mother_key").alias("adult_key")
    )
    fathers = children.filter(pl.col("father_key").is_not_null()).select(
        "person_key", pl.col("father_key").alias("adult_key")
    )
    parts = [
        pl.concat([mothers, fathers]).with_columns(
            pl.lit("registration_parent").alias("role"), pl.lit(None, pl.String).alias("relationship")
        ),
        caregivers.select("person_key", "adult_key", pl.lit("benefit_caregiver").alias("role"), "relationship"),
        partners.select(
            "person_key",
            "adult_key",
            pl.lit("benefit_partner").alias("role"),
            pl.lit(None, pl.String).alias("relationship"),
        ),
    ]
    long = pl.concat(parts)
    adults = long.group_by("person_key", "adult_key").agg(
        (pl.col("role") == "registration_parent").any().alias("registration_parent"),
        (pl.col("role") == "benefit_caregiver").any().alias("benefit_caregiver"),
        (pl.col("role") == "benefit_partner").any().alias("benefit_partner"),
        pl.col("relationship").drop_nulls().first().alias("relationship"),
    )
    primary = primary_caregiver_keys(children, caregivers)
    return (
        adults.join(primary, on="person_key", how="left")
        .with_columns((pl.col("adult_key") == pl.col("primary_key")).fill_null(False).alias("primary"))
        .drop("primary_key")
        .join(children.select("person_key", "ref_day"), on="person_key")
        .sort("person_key", "adult_key")
    )


def primary_caregiver(adults: pl.DataFrame) -> pl.DataFrame:
    return adults.filter("primary").select("person_key", "ref_day", "adult_key")


def other_children(
    adults: pl.DataFrame, adult_births: pl.DataFrame, adult_inclusions: pl.DataFrame, persons: pl.DataFrame
) -> pl.DataFrame:
    """person_key, sibling_key, sibling_ref_day: the adults' other children known by the
    child's 3 months (registrations made and benefit claims lodged by then), born in an
    earlier month than the child and under 18 at the birth."""
    by_registration = (
        pl.concat(
            [
                adult_births.select(
                    pl.col(parent).alias("adult_key"), "child_key", "birth_year", "birth_month", "registration_age_days"
                )
                for parent in ("mother_key", "father_key")
            ]
        )
        .filter(pl.col("adult_key").is_not_null() & pl.col("registration_age_days").is_not_null())
        .select(
            "adult_key",
            pl.col("child_key").alias("sibling_key"),
            birth_reference_day().alias("row_ref_day"),
            (birth_reference_day() + pl.col("registration_age_days")).alias("known_day"),
        )
    )
    by_benefit = adult_inclusions.select(
        pl.col("caregiver_key").alias("adult_key"),
        pl.col("child_key").alias("sibling_key"),
        (day("claim_date") - pl.col("child_age_days_at_claim")).alias("row_ref_day"),
        day("claim_date").alias("known_day"),
    )
    sibling_dob = persons.select(
        pl.col("person_key").alias("sibling_key"), birth_reference_day().alias("person_ref_day")
    )
    pairs = (
        adults.select("person_key", "ref_day", "adult_key")
        .join(pl.concat([by_registration, by_benefit]), on="adult_key")
        .join(sibling_dob, on="sibling_key", how="left")
        .with_columns(pl.coalesce("person_ref_day", "row_ref_day").alias("sibling_ref_day"))
    )
    keep = (
        (pl.col("sibling_key") != pl.col("person_key"))
        & (pl.col("known_day") <= pl.col("ref_day") + AT_3_MONTHS_DAYS)
        & (pl.col("sibling_ref_day") < pl.col("ref_day"))
        & younger_than(pl.col("ref_day") - pl.col("sibling_ref_day"), ADULT_AGE_YEARS)
    )
    return (
        pairs.filter(keep)
        .group_by("person_key", "sibling_key")
        .agg(pl.col("ref_day").first(), pl.col("sibling_ref_day").min())
        .sort("person_key", "sibling_key")
    )
