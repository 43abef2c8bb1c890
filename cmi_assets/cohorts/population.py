"""The cohort population (NZ study, para 39 and section 11): children of a birth year who by
three months of age had their birth registered (registration_age_days <= 91) or were
included in a caregiver's benefit (child_age_days_at_claim <= 91: the claim's data-input
date, when the child becomes known to the system, para 153), with the source of first
observation and the weeks from birth to it (Figure 5).

A child's birth year and month come from the spine's person row, else from the earliest
registration, else from the benefit claim (claim date minus age at claim).
"""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.events import SCHEMA, check_linkage_level
from cmi_assets.cohorts.windows import AT_3_MONTHS_DAYS, birth_reference_date

REGISTRATION, BENEFIT = "birth_registration", "benefit"

_FIRST_OBSERVATIONS_SQL = f"""
with reg as (
    select child_key as person_key,
           min(registration_age_days) as registration_age_days,
           arg_min(birth_year, registration_age_days) as reg_year,
           arg_min(birth_month, registration_age_days) as reg_month
    from {SCHEMA}.birth
    where linkage_level = $level and registration_age_days is not null
    group by 1
), ben as (
    select child_key as person_key,
           min(child_age_days_at_claim) as benefit_claim_age_days,
           min(claim_date - child_age_days_at_claim) as claim_dob
    from {SCHEMA}.benefit_child
    where linkage_level = $level and child_age_days_at_claim is not null
    group by 1
), person as (
    select person_key, sex, birth_year, birth_month, ethnicity
    from {SCHEMA}.person
    where linkage_level = $level
    qualify row_number() over (partition by person_key order by birth_year nulls last, birth_month nulls last) = 1
), observed as (
    select person_key, reg.registration_age_days, ben.benefit_claim_age_days, reg_year, reg_month, claim_dob
    from reg full outer join ben using (person_key)
)
select o.person_key,
       coalesce(p.birth_year, o.reg_year, year(o.claim_dob))::integer as birth_year,
       coalesce(p.birth_month, o.reg_month, month(o.claim_dob))::integer as birth_month,
       p.sex, p.ethnicity, o.registration_age_days, o.benefit_claim_age_days
from observed o left join person p using (person_key)
where coalesce(p.birth_year, o.reg_year, year(o.claim_dob)) = $birth_year
order by o.person_key
"""


def first_observations(con, birth_year: int, linkage_level: str) -> pl.DataFrame:
    """Every child of the birth year ever seen in birth registration or benefit data, with
    the age in days at registration and at the first benefit claim, the first source and
    the weeks since birth to it (Figure 5), and whether they are in the study population."""
    check_linkage_level(linkage_level)
    raw = con.execute(_FIRST_OBSERVATIONS_SQL, {"level": linkage_level, "birth_year": int(birth_year)}).pl()
    return (
        raw.with_columns(birth_reference_date().alias("birth_reference_date"))
        .with_columns(registered_by_3_months(), on_benefit_by_3_months())
        .with_columns(
            pl.min_horizontal("registration_age_days", "benefit_claim_age_days").alias("first_observed_age_days"),
            first_observation_source(),
        )
        .with_columns(
            (pl.col("first_observed_age_days") // 7).alias("weeks_to_first_observation"),
            (pl.col("registered_by_3_months") | pl.col("on_benefit_by_3_months")).alias("in_study_population"),
        )
    )


def registered_by_3_months() -> pl.Expr:
    return (pl.col("registration_age_days") <= AT_3_MONTHS_DAYS).fill_null(False).alias("registered_by_3_months")


def on_benefit_by_3_months() -> pl.Expr:
    return (pl.col("benefit_claim_age_days") <= AT_3_MONTHS_DAYS).fill_null(False).alias("on_benefit_by_3_months")


def first_observation_source() -> pl.Expr:
    """The earlier source; registration wins a tie (its identity is verified)."""
    reg, ben = pl.col("registration_age_days"), pl.col("benefit_claim_age_days")
    return (
        pl.when(reg.is_not_null() & (ben.is_null() | (reg <= ben)))
        .then(pl.lit(REGISTRATION))
        .when(ben.is_not_null())
        .then(pl.lit(BENEFIT))
        .alias("first_observation_source")
    )


def cohort_population(con, birth_year: int, linkage_level: str) -> pl.DataFrame:
    """The study population of one birth cohort at one linkage level: one row per child
    registered or on benefit by 3 months of age."""
    return first_observations(con, birth_year, linkage_level).filter("in_study_population").drop("in_study_population")


def observed_by_week(
    first_observed: pl.DataFrame, max_weeks: int = 26, total_children: int | None = None
) -> pl.DataFrame:
    """Figure 5: percent of children observed in birth registration, in benefit data and in
    either, by each week since birth (observed by week w = age in days <= 7w, so week 13 is
    the 91-day rule). The denominator is `total_children` (the study's estimate of all
    children born, e.g. including maternity records) or every child in `first_observed`."""
    total = total_children if total_children is not None else first_observed.height
    reg = first_observed["registration_age_days"]
    ben = first_observed["benefit_claim_age_days"]
    rows = []
    for week in range(max_weeks + 1):
        limit = 7 * week
        by_reg = (reg <= limit).fill_null(False)
        by_ben = (ben <= limit).fill_null(False)
        rows.append(
            {
                "week": week,
                "pct_birth_registration": 100 * by_reg.sum() / total if total else float("nan"),
                "pct_benefit": 100 * by_ben.sum() / total if total else float("nan"),
                "pct_either": 100 * (by_reg | by_ben).sum() / total if total else float("nan"),
            }
        )
    return pl.DataFrame(rows)
