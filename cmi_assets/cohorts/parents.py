"""Box 1, parents and/or caregivers (NZ study, Box 1, footnotes 9-12, paras 50 and 52).
Who they are (registration parents, benefit caregivers and partners, the primary
caregiver): family.py. Histories look back five years before the birth, except the
parents' own childhood CP history and behavioural findings, used regardless of age (para 50).
"""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.cp import notification_age_days
from cmi_assets.cohorts.family import primary_caregiver
from cmi_assets.cohorts.windows import (
    ADULT_AGE_YEARS,
    AT_3_MONTHS_DAYS,
    DAYS_PER_YEAR,
    LAST_YEAR_DAYS,
    LOOKBACK_5Y_DAYS,
    age_days_at,
    day,
    in_window_before,
    overlap_days,
    union_days,
    years_in_days,
    younger_than,
)

SINGLE_PARENT = ["yes", "yes, father not listed", "no or unknown"]
CAREGIVER_NOT_REGISTRATION_PARENT = ["yes", "no", "no birth registration by 3 months"]
MOTHER_OR_CAREGIVER_AGE = ["<20", "20-24", "25-29", "30-34", "35-39", "40+"]
MISSING_AGE_BAND = "30-34"  # footnote 9
CP_HISTORY_AS_CHILD = ["yes", "no"]
BEHAVIOURAL_FINDING_AS_CHILD = ["yes", "no"]
TIME_ON_BENEFIT = ["no time", "0-20%", "20-80%", "80-100%"]
MENTAL_HEALTH = [
    "none known",
    "substance abuse",
    "substance abuse 3+ of last 5 years",
    "other mental health",
    "other mental health 3+ of last 5 years",
]
ADDRESS_CHANGES = ["none", "1-2", "3+", "missing - no benefit in last year"]
CORRECTIONS = ["no history", "non-custodial only", "custodial non-violent", "custodial violent"]

SOLE_PARENT_BENEFIT = "SPB"
SUBSTANCE, OTHER_MENTAL_HEALTH = "SUB", "MH"  # benefit incapacity codes (footnote 10)
THREE_YEARS_DAYS = years_in_days(3)


def _per_child(children: pl.DataFrame, frame: pl.DataFrame, column: str, default) -> pl.DataFrame:
    return (
        children.select("person_key")
        .join(frame.select("person_key", column), on="person_key", how="left")
        .with_columns(pl.col(column).fill_null(default))
    )


def _spell_days(spells: pl.DataFrame) -> pl.DataFrame:
    return spells.with_columns(day("spell_start").alias("start_day"), day("spell_end").alias("end_day"))


def single_parent(children: pl.DataFrame, adults: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Single parent (yes / yes and father not listed on birth registration / no or
    unknown)": registered by 3 months without a father -> "yes, father not listed"; else
    the primary caregiver on a sole-parent benefit running in the child's first 3 months
    -> "yes"; else "no or unknown"."""
    spb = (
        primary_caregiver(adults)
        .join(
            _spell_days(spells.filter(pl.col("benefit_type") == SOLE_PARENT_BENEFIT)).select(
                pl.col("person_key").alias("adult_key"), "start_day", "end_day"
            ),
            on="adult_key",
        )
        .filter(
            overlap_days(
                pl.col("start_day"), pl.col("end_day"), pl.col("ref_day"), pl.col("ref_day") + AT_3_MONTHS_DAYS + 1
            )
            > 0
        )
    )
    on_spb = spb.select("person_key").unique().with_columns(pl.lit(True).alias("spb"))
    frame = children.select("person_key", "registered_by_3_months", "father_key").join(
        on_spb, on="person_key", how="left"
    )
    return frame.select(
        "person_key",
        pl.when(pl.col("registered_by_3_months") & pl.col("father_key").is_null())
        .then(pl.lit(SINGLE_PARENT[1]))
        .when(pl.col("spb").fill_null(False))
        .then(pl.lit(SINGLE_PARENT[0]))
        .otherwise(pl.lit(SINGLE_PARENT[2]))
        .alias("single_parent"),
    )


def caregiver_not_registration_parent(children: pl.DataFrame, adults: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "At least one benefit caregiver is not a birth registration parent (yes / no /
    no birth registration by 3 months)": a benefit caregiver (by 3 months) whose person key is
    neither the mother's nor the father's on the registration."""
    outsiders = (
        adults.filter(pl.col("benefit_caregiver") & ~pl.col("registration_parent"))
        .select("person_key")
        .unique()
        .with_columns(pl.lit(True).alias("outsider"))
    )
    frame = children.select("person_key", "registered_by_3_months").join(outsiders, on="person_key", how="left")
    return frame.select(
        "person_key",
        pl.when(~pl.col("registered_by_3_months"))
        .then(pl.lit(CAREGIVER_NOT_REGISTRATION_PARENT[2]))
        .when(pl.col("outsider").fill_null(False))
        .then(pl.lit(CAREGIVER_NOT_REGISTRATION_PARENT[0]))
        .otherwise(pl.lit(CAREGIVER_NOT_REGISTRATION_PARENT[1]))
        .alias("caregiver_not_registration_parent"),
    )


def age_band(age_years: pl.Expr) -> pl.Expr:
    """<20 / 20-24 / 25-29 / 30-34 / 35-39 / 40+; missing -> 30-34 (footnote 9)."""
    bands = pl.when(age_years.is_null()).then(pl.lit(MISSING_AGE_BAND))
    for upper, label in zip((20, 25, 30, 35, 40), MOTHER_OR_CAREGIVER_AGE):
        bands = bands.when(age_years < upper).then(pl.lit(label))
    return bands.otherwise(pl.lit(MOTHER_OR_CAREGIVER_AGE[-1]))


def mother_or_caregiver_age(children: pl.DataFrame, adults: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Age of mother or primary benefit recipient when child was born": the primary
    caregiver's age from birth reference dates (15th of each birth month)."""
    primary = primary_caregiver(adults).join(
        persons.select(pl.col("person_key").alias("adult_key"), pl.col("ref_day").alias("adult_ref_day")),
        on="adult_key",
        how="left",
    )
    ages = primary.select(
        "person_key", ((pl.col("ref_day") - pl.col("adult_ref_day")) / DAYS_PER_YEAR).alias("age_years")
    )
    frame = children.select("person_key").join(ages, on="person_key", how="left")
    return frame.select("person_key", age_band(pl.col("age_years")).alias("mother_or_caregiver_age"))


def childhood_cp_records(
    adults: pl.DataFrame, persons: pl.DataFrame, notifications: pl.DataFrame, findings: pl.DataFrame
) -> pl.DataFrame:
    """The adults' own CP records from before they were 18 and before the child's birth,
    with no five-year limit (para 50): person_key, adult_key, behavioural (a substantiated
    behavioural / relationship finding)."""
    adult_ref = persons.select(pl.col("person_key").alias("adult_key"), pl.col("ref_day").alias("adult_ref_day"))
    base = adults.select("person_key", "ref_day", "adult_key").join(adult_ref, on="adult_key", how="left")
    notes = (
        base.join(notifications.rename({"person_key": "adult_key"}), on="adult_key")
        .filter(
            (day("notification_date") < pl.col("ref_day"))
            & younger_than(notification_age_days(pl.col("adult_ref_day")), ADULT_AGE_YEARS)
        )
        .select("person_key", "adult_key", pl.lit(False).alias("behavioural"))
    )
    behavioural = findings.filter((pl.col("abuse_type") == "BEHAVIOURAL") & (pl.col("finding") == "SUBSTANTIATED"))
    finds = (
        base.join(behavioural.rename({"person_key": "adult_key"}), on="adult_key")
        .filter(
            (day("start_date") < pl.col("ref_day"))
            & younger_than(age_days_at(day("start_date"), pl.col("age_days"), pl.col("adult_ref_day")), ADULT_AGE_YEARS)
        )
        .select("person_key", "adult_key", pl.lit(True).alias("behavioural"))
    )
    return pl.concat([notes, finds])


def parent_cp_history_as_child(children: pl.DataFrame, childhood: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Care and protection history as a child (yes / no)": any parent or caregiver
    with a CP record before age 18 (para 50: regardless of how long ago)."""
    hits = childhood.select("person_key").unique().with_columns(pl.lit("yes").alias("parent_cp_history_as_child"))
    return _per_child(children, hits, "parent_cp_history_as_child", "no")


def parent_behavioural_finding_as_child(children: pl.DataFrame, childhood: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Findings of behavioural or relationship difficulties as a child (yes / no)"."""
    hits = (
        childhood.filter("behavioural")
        .select("person_key")
        .unique()
        .with_columns(pl.lit("yes").alias("parent_behavioural_finding_as_child"))
    )
    return _per_child(children, hits, "parent_behavioural_finding_as_child", "no")


def time_on_benefit_category(share: pl.Expr) -> pl.Expr:
    return (
        pl.when(share <= 0)
        .then(pl.lit(TIME_ON_BENEFIT[0]))
        .when(share < 0.2)
        .then(pl.lit(TIME_ON_BENEFIT[1]))
        .when(share < 0.8)
        .then(pl.lit(TIME_ON_BENEFIT[2]))
        .otherwise(pl.lit(TIME_ON_BENEFIT[3]))
    )


def caregiver_time_on_benefit_5y(children: pl.DataFrame, adults: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Mother or primary benefit recipient's time on benefit in the last 5 years (no
    time / 0-20% / 20-80% / 80-100%)" (para 52): days in the union of the primary
    caregiver's spells over the 1,826 days before the birth."""
    carer = primary_caregiver(adults).join(
        _spell_days(spells).select(pl.col("person_key").alias("adult_key"), "start_day", "end_day"), on="adult_key"
    )
    carer = carer.with_columns((pl.col("ref_day") - LOOKBACK_5Y_DAYS).alias("lo"), pl.col("ref_day").alias("hi"))
    days = union_days(carer, ["person_key"], "lo", "hi").with_columns(
        (pl.col("days") / LOOKBACK_5Y_DAYS).alias("share")
    )
    share = _per_child(children, days, "share", 0.0)
    return share.select("person_key", time_on_benefit_category(pl.col("share")).alias("caregiver_time_on_benefit_5y"))


def incapacity_days_5y(adults: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """person_key, adult_key, incapacity_code, days: each adult's days on a benefit with a
    substance-abuse or other mental-health incapacity in the five years before the birth."""
    mh = _spell_days(spells.filter(pl.col("incapacity_code").is_in([SUBSTANCE, OTHER_MENTAL_HEALTH])))
    rows = (
        adults.select("person_key", "ref_day", "adult_key")
        .join(
            mh.select(pl.col("person_key").alias("adult_key"), "incapacity_code", "start_day", "end_day"),
            on="adult_key",
        )
        .with_columns((pl.col("ref_day") - LOOKBACK_5Y_DAYS).alias("lo"), pl.col("ref_day").alias("hi"))
    )
    return union_days(rows, ["person_key", "adult_key", "incapacity_code"], "lo", "hi").filter(pl.col("days") > 0)


def mental_health_category(substance: pl.Expr, substance_3y: pl.Expr, other: pl.Expr, other_3y: pl.Expr) -> pl.Expr:
    """Substance abuse is prioritised (footnote 10)."""
    return (
        pl.when(substance_3y)
        .then(pl.lit(MENTAL_HEALTH[2]))
        .when(substance)
        .then(pl.lit(MENTAL_HEALTH[1]))
        .when(other_3y)
        .then(pl.lit(MENTAL_HEALTH[4]))
        .when(other)
        .then(pl.lit(MENTAL_HEALTH[3]))
        .otherwise(pl.lit(MENTAL_HEALTH[0]))
    )


def mental_health_flags(evidence: pl.DataFrame) -> pl.DataFrame:
    """From person_key, incapacity_code, three_years rows: one row per child with the four
    flags mental_health_category needs."""
    sub, other = pl.col("incapacity_code") == SUBSTANCE, pl.col("incapacity_code") == OTHER_MENTAL_HEALTH
    return evidence.group_by("person_key").agg(
        sub.any().alias("substance"),
        (sub & pl.col("three_years")).any().alias("substance_3y"),
        other.any().alias("other"),
        (other & pl.col("three_years")).any().alias("other_3y"),
    )


def parent_mental_health_5y(children: pl.DataFrame, adults: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Mental health in the last 5 years (no known substance abuse or other mental
    health disorder / substance abuse disorder / 3+ years in last 5 with substance abuse
    disorder / mental health disorder other than substance abuse / 3+ years in last 5 with
    mental health disorder other than substance abuse)": incapacities recorded on any
    parent's or caregiver's benefit (footnote 10); 3+ years = one adult's days with that
    incapacity in the five years add up to three years."""
    evidence = incapacity_days_5y(adults, spells).with_columns(
        (pl.col("days") >= THREE_YEARS_DAYS).alias("three_years")
    )
    flags = (
        children.select("person_key").join(mental_health_flags(evidence), on="person_key", how="left").fill_null(False)
    )
    return flags.select(
        "person_key",
        mental_health_category(pl.col("substance"), pl.col("substance_3y"), pl.col("other"), pl.col("other_3y")).alias(
            "parent_mental_health_5y"
        ),
    )


def address_changes_category(changes: pl.Expr, on_benefit_last_year: pl.Expr) -> pl.Expr:
    return (
        pl.when((changes == 0) & ~on_benefit_last_year)
        .then(pl.lit(ADDRESS_CHANGES[3]))
        .when(changes >= 3)
        .then(pl.lit(ADDRESS_CHANGES[2]))
        .when(changes >= 1)
        .then(pl.lit(ADDRESS_CHANGES[1]))
        .otherwise(pl.lit(ADDRESS_CHANGES[0]))
    )


def caregiver_address_changes_last_year(
    children: pl.DataFrame, adults: pl.DataFrame, spells: pl.DataFrame, addresses: pl.DataFrame
) -> pl.DataFrame:
    """Box 1 "Number of benefit address changes in the last year (no address changes / 1-2
    address changes / 3 plus address changes / missing - no benefit in last year)"
    (footnote 11: benefit data): the primary caregiver's new benefit addresses in the year
    before the birth (a person's first recorded address is not a change)."""
    carer = primary_caregiver(adults)
    ordered = addresses.select(pl.col("person_key").alias("adult_key"), day("effective_from").alias("from_day")).sort(
        "adult_key", "from_day"
    )
    moves = ordered.with_columns(pl.int_range(pl.len()).over("adult_key").alias("nth")).filter(pl.col("nth") > 0)
    changes = (
        carer.join(moves, on="adult_key")
        .filter(in_window_before(pl.col("from_day"), pl.col("ref_day"), LAST_YEAR_DAYS))
        .group_by("person_key")
        .agg(pl.len().alias("changes"))
    )
    spells_last_year = (
        carer.join(
            _spell_days(spells).select(pl.col("person_key").alias("adult_key"), "start_day", "end_day"), on="adult_key"
        )
        .filter(
            overlap_days(pl.col("start_day"), pl.col("end_day"), pl.col("ref_day") - LAST_YEAR_DAYS, pl.col("ref_day"))
            > 0
        )
        .select("person_key")
        .unique()
        .with_columns(pl.lit(True).alias("on_benefit"))
    )
    frame = (
        children.select("person_key")
        .join(changes, on="person_key", how="left")
        .join(spells_last_year, on="person_key", how="left")
    )
    return frame.select(
        "person_key",
        address_changes_category(pl.col("changes").fill_null(0), pl.col("on_benefit").fill_null(False)).alias(
            "caregiver_address_changes_last_year"
        ),
    )


def parent_corrections_5y(children: pl.DataFrame, adults: pl.DataFrame, sentences: pl.DataFrame) -> pl.DataFrame:
    """Box 1 "Corrections history in the last 5 years (no history / non-custodial sentence
    only / custodial sentence for non-violent crimes / custodial sentence for violent
    crimes)": any parent's or caregiver's sentence begun before the birth and served in part
    in the five years before it; violent custodial prioritised (footnote 12)."""
    rows = (
        adults.select("person_key", "ref_day", "adult_key")
        .join(
            sentences.select(
                pl.col("person_key").alias("adult_key"),
                day("sentence_start").alias("start_day"),
                day("sentence_end").alias("end_day"),
                "sentence_type",
                "offence_category",
            ),
            on="adult_key",
        )
        .filter(
            (pl.col("start_day") < pl.col("ref_day"))
            & (
                overlap_days(
                    pl.col("start_day"), pl.col("end_day"), pl.col("ref_day") - LOOKBACK_5Y_DAYS, pl.col("ref_day")
                )
                > 0
            )
        )
    )
    custodial = pl.col("sentence_type") == "CUSTODIAL"
    per_child = rows.group_by("person_key").agg(
        (custodial & (pl.col("offence_category") == "VIOLENT")).any().alias("violent"),
        custodial.any().alias("custodial"),
    )
    frame = children.select("person_key").join(per_child, on="person_key", how="left")
    return frame.select(
        "person_key",
        pl.when(pl.col("violent"))
        .then(pl.lit(CORRECTIONS[3]))
        .when(pl.col("custodial"))
        .then(pl.lit(CORRECTIONS[2]))
        .when(pl.col("violent").is_not_null())
        .then(pl.lit(CORRECTIONS[1]))
        .otherwise(pl.lit(CORRECTIONS[0]))
        .alias("parent_corrections_5y"),
    )
