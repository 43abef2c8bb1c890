"""NZ study Box 2: the Ministry of Health variables of the extended model (section 9),
each the Box 1 variable widened with health records of the mother, the child and the
other children:

- moh_low_birth_weight_or_preterm: registration, or the maternity record's gestation < 37;
- moh_parenting_demands: adds a birth abnormality of the child (a Q-code admission by 3
  months), the mother's previous hospital births and multiple births in maternity data;
- moh_family_violence: the 2+ level also takes the mother hospitalised for assault in the
  last 5 years, or another child hospitalised for maltreatment, intracranial or long-bone
  injury by age 1;
- moh_parent_mental_health_5y: adds the mother's mental-health service contacts and
  F-coded admissions in the last 5 years (3+ years = evidence in 3+ of the 5 years);
  substance prioritised (footnote 24);
- moh_mother_smoker: smoking at booking on the maternity record.

Not derivable from the event tables, so not produced: the MoH address-change variable
(events.hospitalisation carries no domicile and there are no PHO records; the extended model
uses the Box 1 benefit address variable) and "other child not fully immunised" (no
immunisation register).

The mother is the registration mother (registration by 3 months), else a benefit caregiver
recorded as the child's parent.
"""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.child import LOW_BIRTH_WEIGHT_OR_PRETERM, PRETERM_WEEKS, is_low_birth_weight_or_preterm
from cmi_assets.cohorts.events import load_rows
from cmi_assets.cohorts.hospital import (
    is_assault_cause,
    is_birth_abnormality,
    is_maltreatment_admission,
    is_marker_injury,
    is_other_mental_health_diagnosis,
    is_substance_use_diagnosis,
)
from cmi_assets.cohorts.other_children import (
    FAMILY_VIOLENCE,
    HIGH_DEMANDS_UNDER_AGE_YEARS,
    PARENTING_DEMANDS,
    family_violence_category,
    family_violence_months,
    other_children_counts,
    parenting_demands_category,
)
from cmi_assets.cohorts.parents import (
    MENTAL_HEALTH,
    OTHER_MENTAL_HEALTH,
    SUBSTANCE,
    THREE_YEARS_DAYS,
    incapacity_days_5y,
    mental_health_category,
    mental_health_flags,
)
from cmi_assets.cohorts.windows import (
    ADULT_AGE_YEARS,
    AT_3_MONTHS_DAYS,
    DAYS_PER_YEAR,
    LOOKBACK_5Y_DAYS,
    age_days_at,
    birth_reference_day,
    day,
    in_window_before,
    under_age,
    younger_than,
)

MOTHER_SMOKER = ["yes", "no or unknown"]
BOX2_CATEGORIES: dict[str, list[str]] = {
    "moh_low_birth_weight_or_preterm": LOW_BIRTH_WEIGHT_OR_PRETERM,
    "moh_parenting_demands": PARENTING_DEMANDS,
    "moh_family_violence": FAMILY_VIOLENCE,
    "moh_parent_mental_health_5y": MENTAL_HEALTH,
    "moh_mother_smoker": MOTHER_SMOKER,
}
MOH_THREE_OF_FIVE_YEARS = 3


def mothers(children: pl.DataFrame, caregivers: pl.DataFrame) -> pl.DataFrame:
    """person_key, mother_key, ref_day, birth_year, birth_month."""
    parent_carer = (
        caregivers.filter(pl.col("relationship") == "PARENT")
        .sort("person_key", "claim_age_days", "adult_key")
        .unique("person_key", keep="first")
    )
    frame = children.select(
        "person_key", "ref_day", "birth_year", "birth_month", pl.col("mother_key").alias("_reg")
    ).join(parent_carer.select("person_key", pl.col("adult_key").alias("_carer")), on="person_key", how="left")
    return frame.select(
        "person_key", pl.coalesce("_reg", "_carer").alias("mother_key"), "ref_day", "birth_year", "birth_month"
    ).filter(pl.col("mother_key").is_not_null())


def load_health_inputs(
    con, linkage_level: str, children: pl.DataFrame, caregivers: pl.DataFrame, siblings: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    mums = mothers(children, caregivers)
    people = pl.concat([children["person_key"], mums["mother_key"], siblings["sibling_key"]]).unique()
    return {
        "mothers": mums,
        "maternity": load_rows(con, "maternity", linkage_level, "mother_key", mums["mother_key"]),
        "hospitalisation": load_rows(con, "hospitalisation", linkage_level, "person_key", people),
        "mental_health": load_rows(con, "mental_health", linkage_level, "person_key", mums["mother_key"]),
    }


def _maternity_deliveries(mums: pl.DataFrame, maternity: pl.DataFrame) -> pl.DataFrame:
    """The mothers' maternity records with the delivery's reference day."""
    deliveries = maternity.with_columns(
        birth_reference_day("baby_birth_year", "baby_birth_month").alias("delivery_ref_day")
    )
    return mums.select("person_key", "mother_key", "ref_day").join(deliveries, on="mother_key")


def moh_low_birth_weight_or_preterm(
    children: pl.DataFrame, mums: pl.DataFrame, maternity: pl.DataFrame
) -> pl.DataFrame:
    """Box 2 "MoH - low birth weight or pre-term (yes - <2.5Kg or <37 weeks gestation / no
    or unknown)": birth registration or the maternity record of this delivery."""
    this_birth = _maternity_deliveries(mums, maternity).filter(pl.col("delivery_ref_day") == pl.col("ref_day"))
    preterm = (
        this_birth.filter(pl.col("gestation_weeks") < PRETERM_WEEKS)
        .select("person_key")
        .unique()
        .with_columns(pl.lit(True).alias("_mat"))
    )
    frame = children.select("person_key", "birth_weight_g", "gestation_weeks").join(
        preterm, on="person_key", how="left"
    )
    low = is_low_birth_weight_or_preterm(pl.col("birth_weight_g"), pl.col("gestation_weeks")) | pl.col(
        "_mat"
    ).fill_null(False)
    return frame.select(
        "person_key",
        pl.when(low).then(pl.lit("yes")).otherwise(pl.lit("no or unknown")).alias("moh_low_birth_weight_or_preterm"),
    )


def moh_parenting_demands(
    children: pl.DataFrame,
    siblings: pl.DataFrame,
    mums: pl.DataFrame,
    maternity: pl.DataFrame,
    hospitalisations: pl.DataFrame,
) -> pl.DataFrame:
    """Box 2 "MoH - parenting demands (high demands - multiple birth child, child with a
    birth abnormality, other children under 2, or 3 plus other children / no other children
    / other children but not high demands)"."""
    deliveries = _maternity_deliveries(mums, maternity)
    gap = pl.col("ref_day") - pl.col("delivery_ref_day")
    earlier = (
        deliveries.filter((pl.col("delivery_ref_day") < pl.col("ref_day")) & younger_than(gap, ADULT_AGE_YEARS))
        .group_by("person_key")
        .agg(
            pl.col("delivery_ref_day").n_unique().alias("_previous_births"),
            younger_than(gap, HIGH_DEMANDS_UNDER_AGE_YEARS).any().alias("_mat_under_2"),
        )
    )
    multiple = (
        deliveries.filter((pl.col("delivery_ref_day") == pl.col("ref_day")) & (pl.col("plurality") > 1))
        .select("person_key")
        .unique()
        .with_columns(pl.lit(True).alias("_mat_multiple"))
    )
    admitted = (
        hospitalisations.join(children.select("person_key", "ref_day"), on="person_key")
        .filter(
            is_birth_abnormality()
            & (age_days_at(day("admit_date"), pl.col("age_days"), pl.col("ref_day")) <= AT_3_MONTHS_DAYS)
        )
        .select("person_key")
        .unique()
        .with_columns(pl.lit(True).alias("_abnormality"))
    )
    frame = other_children_counts(children, siblings).join(children.select("person_key", "plurality"), on="person_key")
    for extra in (earlier, multiple, admitted):
        frame = frame.join(extra, on="person_key", how="left")
    n_other = pl.max_horizontal("n_other_children", pl.col("_previous_births").fill_null(0))
    multiple_birth = (pl.col("plurality") > 1).fill_null(False) | pl.col("_mat_multiple").fill_null(False)
    high_extra = pl.col("_abnormality").fill_null(False)
    under_2 = pl.col("other_child_under_2") | pl.col("_mat_under_2").fill_null(False)
    return frame.select(
        "person_key",
        parenting_demands_category(multiple_birth | high_extra, under_2, n_other).alias("moh_parenting_demands"),
    )


def moh_family_violence(
    children: pl.DataFrame,
    siblings: pl.DataFrame,
    notifications: pl.DataFrame,
    mums: pl.DataFrame,
    hospitalisations: pl.DataFrame,
) -> pl.DataFrame:
    """Box 2 "MoH - Family violence (no events / notification or contact record in 1 of the
    last 12 months / notification or contact record in 2+ of the last 12 months, or mother
    hospitalised for assault in the last 5 years, or other child hospitalised for
    maltreatment, intracranial or long-bone fracture injury by age 1)"."""
    months = family_violence_months(children, siblings, notifications)
    assaulted = (
        mums.join(hospitalisations.rename({"person_key": "mother_key"}), on="mother_key")
        .filter(is_assault_cause() & in_window_before(day("admit_date"), pl.col("ref_day"), LOOKBACK_5Y_DAYS))
        .select("person_key")
    )
    injured = (
        siblings.join(hospitalisations.rename({"person_key": "sibling_key"}), on="sibling_key")
        .filter(
            (is_maltreatment_admission() | is_marker_injury())
            & (day("admit_date") < pl.col("ref_day"))
            & under_age(age_days_at(day("admit_date"), pl.col("age_days"), pl.col("sibling_ref_day")), 1)
        )
        .select("person_key")
    )
    severe = pl.concat([assaulted, injured]).unique().with_columns(pl.lit(True).alias("_severe"))
    frame = months.join(severe, on="person_key", how="left")
    months_or_severe = pl.when(pl.col("_severe").fill_null(False)).then(pl.lit(2)).otherwise(pl.col("fv_months"))
    return frame.select("person_key", family_violence_category(months_or_severe).alias("moh_family_violence"))


def mother_health_mental_evidence(
    mums: pl.DataFrame, mental_health: pl.DataFrame, hospitalisations: pl.DataFrame
) -> pl.DataFrame:
    """person_key, incapacity_code (SUB / MH), three_years: the mother's mental-health
    contacts and F-coded admissions in the five years before the birth, 3+ years = records
    in at least 3 of the 5 years."""
    contacts = mums.join(mental_health.rename({"person_key": "mother_key"}), on="mother_key").select(
        "person_key",
        "ref_day",
        day("contact_date").alias("event_day"),
        pl.when(pl.col("diagnosis_group") == "SUBSTANCE")
        .then(pl.lit(SUBSTANCE))
        .otherwise(pl.lit(OTHER_MENTAL_HEALTH))
        .alias("incapacity_code"),
    )
    admissions = (
        mums.join(hospitalisations.rename({"person_key": "mother_key"}), on="mother_key")
        .filter(is_substance_use_diagnosis() | is_other_mental_health_diagnosis())
        .select(
            "person_key",
            "ref_day",
            day("admit_date").alias("event_day"),
            pl.when(is_substance_use_diagnosis())
            .then(pl.lit(SUBSTANCE))
            .otherwise(pl.lit(OTHER_MENTAL_HEALTH))
            .alias("incapacity_code"),
        )
    )
    records = pl.concat([contacts, admissions]).filter(
        in_window_before(pl.col("event_day"), pl.col("ref_day"), LOOKBACK_5Y_DAYS)
    )
    years = records.with_columns(((pl.col("ref_day") - pl.col("event_day") - 1) // DAYS_PER_YEAR).alias("year_back"))
    return years.group_by("person_key", "incapacity_code").agg(
        (pl.col("year_back").n_unique() >= MOH_THREE_OF_FIVE_YEARS).alias("three_years")
    )


def moh_parent_mental_health_5y(
    children: pl.DataFrame,
    adults: pl.DataFrame,
    spells: pl.DataFrame,
    mums: pl.DataFrame,
    mental_health: pl.DataFrame,
    hospitalisations: pl.DataFrame,
) -> pl.DataFrame:
    """Box 2 "MoH - parents' or caregivers' mental health in the last 5 years" (categories
    of Box 1): benefit incapacities of any parent or caregiver plus the mother's MoH
    records; substance prioritised (footnote 24)."""
    benefit = incapacity_days_5y(adults, spells).select(
        "person_key", "incapacity_code", (pl.col("days") >= THREE_YEARS_DAYS).alias("three_years")
    )
    evidence = pl.concat([benefit, mother_health_mental_evidence(mums, mental_health, hospitalisations)])
    flags = (
        children.select("person_key").join(mental_health_flags(evidence), on="person_key", how="left").fill_null(False)
    )
    return flags.select(
        "person_key",
        mental_health_category(pl.col("substance"), pl.col("substance_3y"), pl.col("other"), pl.col("other_3y")).alias(
            "moh_parent_mental_health_5y"
        ),
    )


def moh_mother_smoker(children: pl.DataFrame, mums: pl.DataFrame, maternity: pl.DataFrame) -> pl.DataFrame:
    """Box 2 "MoH - mother a smoker (yes / no or unknown)": smoking at booking for this
    delivery."""
    smoker = _maternity_deliveries(mums, maternity).filter(
        (pl.col("delivery_ref_day") == pl.col("ref_day")) & (pl.col("smoking_at_booking") == "Y")
    )
    flag = smoker.select("person_key").unique().with_columns(pl.lit(MOTHER_SMOKER[0]).alias("moh_mother_smoker"))
    return (
        children.select("person_key")
        .join(flag, on="person_key", how="left")
        .with_columns(pl.col("moh_mother_smoker").fill_null(MOTHER_SMOKER[1]))
    )


def box2_features(inputs) -> pl.DataFrame:
    """person_key and the Box 2 variables, from a CohortInputs loaded with health."""
    c, h = inputs.children, inputs.health
    mums, maternity, hosp = h["mothers"], h["maternity"], h["hospitalisation"]
    parts = [
        moh_low_birth_weight_or_preterm(c, mums, maternity),
        moh_parenting_demands(c, inputs.siblings, mums, maternity, hosp),
        moh_family_violence(c, inputs.siblings, inputs.notifications, mums, hosp),
        moh_parent_mental_health_5y(c, inputs.adults, inputs.spells, mums, h["mental_health"], hosp),
        moh_mother_smoker(c, mums, maternity),
    ]
    frame = c.select("person_key")
    for part in parts:
        frame = frame.join(part, on="person_key", how="left", maintain_order="left")
    return frame
