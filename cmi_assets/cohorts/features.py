"""The cohort feature table: one row per child of the study population with every Box 1
variable (string categories, no nulls), the Box 2 variables when asked, the 11 risk
markers of Figure 4, the Table 8 flags and the group columns used for proportionality
(NZ study, Tables 7-9: ethnic groups from the birth registration, benefit by 3 months,
other children with CP history, ...)."""

from __future__ import annotations

import polars as pl

from cmi_assets.cohorts.box2 import box2_features
from cmi_assets.cohorts.child import LOW_BIRTH_WEIGHT_OR_PRETERM, SEX, child_sex, low_birth_weight_or_preterm
from cmi_assets.cohorts.community import CP_OFFICE, cp_office, high_deprivation, residence_at_birth
from cmi_assets.cohorts.inputs import CohortInputs, load_cohort_inputs
from cmi_assets.cohorts.markers import risk_markers
from cmi_assets.cohorts.other_children import (
    FAMILY_VIOLENCE,
    OTHER_CHILDREN_CP_HISTORY,
    PARENTING_DEMANDS,
    family_violence_last_year,
    other_children_cp_history_5y,
    parenting_demands,
)
from cmi_assets.cohorts.parents import (
    ADDRESS_CHANGES,
    BEHAVIOURAL_FINDING_AS_CHILD,
    CAREGIVER_NOT_REGISTRATION_PARENT,
    CORRECTIONS,
    CP_HISTORY_AS_CHILD,
    MENTAL_HEALTH,
    MOTHER_OR_CAREGIVER_AGE,
    SINGLE_PARENT,
    TIME_ON_BENEFIT,
    caregiver_address_changes_last_year,
    caregiver_not_registration_parent,
    caregiver_time_on_benefit_5y,
    childhood_cp_records,
    mother_or_caregiver_age,
    parent_behavioural_finding_as_child,
    parent_corrections_5y,
    parent_cp_history_as_child,
    parent_mental_health_5y,
    single_parent,
)
from cmi_assets.cohorts.table8 import table8_flags

# Every Box 1 variable -> its categories, in Box 1's order (NZ study, Box 1)
FEATURE_CATEGORIES: dict[str, list[str]] = {
    # child
    "child_sex": SEX,
    "low_birth_weight_or_preterm": LOW_BIRTH_WEIGHT_OR_PRETERM,
    # other children of the parents and/or caregivers
    "parenting_demands": PARENTING_DEMANDS,
    "other_children_cp_history_5y": OTHER_CHILDREN_CP_HISTORY,
    "family_violence_last_year": FAMILY_VIOLENCE,
    # parents and/or caregivers
    "single_parent": SINGLE_PARENT,
    "caregiver_not_registration_parent": CAREGIVER_NOT_REGISTRATION_PARENT,
    "mother_or_caregiver_age": MOTHER_OR_CAREGIVER_AGE,
    "parent_cp_history_as_child": CP_HISTORY_AS_CHILD,
    "parent_behavioural_finding_as_child": BEHAVIOURAL_FINDING_AS_CHILD,
    "caregiver_time_on_benefit_5y": TIME_ON_BENEFIT,
    "parent_mental_health_5y": MENTAL_HEALTH,
    "caregiver_address_changes_last_year": ADDRESS_CHANGES,
    "parent_corrections_5y": CORRECTIONS,
    # community / office
    "cp_office": CP_OFFICE,
}

# ethnic groups of the birth registration (';'-joined codes); AIAN plays the role the NZ
# tables give to Maori (synthetic world profile)
ETHNIC_GROUPS = ("AIAN", "ASIAN", "BLACK", "NHPI", "WHITE", "HISPANIC", "OTHER")


def box1_features(inputs: CohortInputs) -> pl.DataFrame:
    """person_key and the 15 Box 1 variables, one function each."""
    c, adults = inputs.children, inputs.adults
    childhood = childhood_cp_records(adults, inputs.persons, inputs.notifications, inputs.findings)
    residence = residence_at_birth(c, adults, inputs.addresses)
    parts = [
        child_sex(c),
        low_birth_weight_or_preterm(c),
        parenting_demands(c, inputs.siblings),
        other_children_cp_history_5y(c, inputs.siblings, inputs.notifications, inputs.findings),
        family_violence_last_year(c, inputs.siblings, inputs.notifications),
        single_parent(c, adults, inputs.spells),
        caregiver_not_registration_parent(c, adults),
        mother_or_caregiver_age(c, adults, inputs.persons),
        parent_cp_history_as_child(c, childhood),
        parent_behavioural_finding_as_child(c, childhood),
        caregiver_time_on_benefit_5y(c, adults, inputs.spells),
        parent_mental_health_5y(c, adults, inputs.spells),
        caregiver_address_changes_last_year(c, adults, inputs.spells, inputs.addresses),
        parent_corrections_5y(c, adults, inputs.sentences),
        cp_office(residence),
    ]
    frame = c.select("person_key")
    for part in parts:
        frame = frame.join(part, on="person_key", how="left", maintain_order="left")
    return frame


def group_columns(inputs: CohortInputs) -> pl.DataFrame:
    """person_key, birth year and month, the 3-month observation flags, ethnicity (raw and
    one flag per group, null when no registration ethnicity is linked: Table 7 "of
    non-missing"), deprivation decile and high_deprivation."""
    c = inputs.children
    residence = residence_at_birth(c, inputs.adults, inputs.addresses)
    groups = pl.col("ethnicity").str.split(";")
    flags = [
        pl.when(pl.col("ethnicity").is_null())
        .then(None)
        .otherwise(groups.list.contains(g))
        .alias(f"ethnicity_{g.lower()}")
        for g in ETHNIC_GROUPS
    ]
    base = c.select(
        "person_key",
        "birth_year",
        "birth_month",
        "registered_by_3_months",
        "on_benefit_by_3_months",
        "first_observation_source",
        "weeks_to_first_observation",
        "ethnicity",
        *flags,
    )
    return base.join(
        residence.select("person_key", "deprivation_decile"), on="person_key", how="left", maintain_order="left"
    ).join(high_deprivation(residence), on="person_key", how="left", maintain_order="left")


def features_from_inputs(inputs: CohortInputs, include_health: bool = False) -> pl.DataFrame:
    box1 = box1_features(inputs)
    frame = group_columns(inputs).join(box1, on="person_key", how="left", maintain_order="left")
    if include_health:
        frame = frame.join(box2_features(inputs), on="person_key", how="left", maintain_order="left")
    frame = frame.join(risk_markers(box1), on="person_key", how="left", maintain_order="left")
    return frame.join(table8_flags(frame), on="person_key", how="left", maintain_order="left").with_columns(
        pl.lit(inputs.linkage_level).alias("linkage_level")
    )


def cohort_features(con, birth_year: int, linkage_level: str, include_health: bool = False) -> pl.DataFrame:
    """One row per child in the cohort population (cohort_population), sorted by person_key."""
    inputs = load_cohort_inputs(con, birth_year, linkage_level, include_health=include_health)
    return features_from_inputs(inputs, include_health=include_health)
