"""Everything the feature functions need for one cohort at one linkage level, pulled from
the event tables once: the children (population + registration by 3 months), the adults
around them, the other children, and the event rows of those people only (DuckDB
semi-joins on the keys, so memory follows the cohort, not the whole warehouse)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from cmi_assets.cohorts.box2 import load_health_inputs
from cmi_assets.cohorts.events import load_rows
from cmi_assets.cohorts.family import (
    benefit_caregivers_by_3_months,
    other_children,
    parents_and_caregivers,
    partners_at_birth,
    registration_by_3_months,
)
from cmi_assets.cohorts.population import cohort_population
from cmi_assets.cohorts.windows import birth_reference_day


@dataclass(frozen=True)
class CohortInputs:
    birth_year: int
    linkage_level: str
    children: pl.DataFrame  # population + REGISTRATION_COLUMNS + ref_day
    caregivers: pl.DataFrame  # benefit caregivers by 3 months
    adults: pl.DataFrame  # family.parents_and_caregivers
    siblings: pl.DataFrame  # family.other_children
    persons: pl.DataFrame  # adults' and siblings' person rows + ref_day
    spells: pl.DataFrame  # adults' benefit spells
    addresses: pl.DataFrame  # adults' benefit addresses
    sentences: pl.DataFrame  # adults' sentences
    notifications: pl.DataFrame  # adults' and siblings' CP notifications
    findings: pl.DataFrame  # adults' and siblings' CP findings
    health: dict[str, pl.DataFrame] = field(default_factory=dict)


def _keys(*frames_and_columns: tuple[pl.DataFrame, str]) -> pl.Series:
    return (
        pl.concat([frame[column].cast(pl.String) for frame, column in frames_and_columns]).drop_nulls().unique().sort()
    )


def load_cohort_inputs(con, birth_year: int, linkage_level: str, include_health: bool = False) -> CohortInputs:
    population = cohort_population(con, birth_year, linkage_level)
    child_keys = population["person_key"]
    registrations = registration_by_3_months(load_rows(con, "birth", linkage_level, "child_key", child_keys))
    children = population.with_columns(birth_reference_day().alias("ref_day")).join(
        registrations, on="person_key", how="left"
    )
    caregivers = benefit_caregivers_by_3_months(load_rows(con, "benefit_child", linkage_level, "child_key", child_keys))
    first_adults = _keys((children, "mother_key"), (children, "father_key"), (caregivers, "adult_key"))
    spells = load_rows(con, "benefit_spell", linkage_level, "person_key", first_adults)
    partners = partners_at_birth(children, caregivers, spells)
    adults = parents_and_caregivers(children, caregivers, partners)
    adult_keys = _keys((adults, "adult_key"))
    partner_only = adult_keys.filter(~adult_keys.is_in(first_adults.implode()))
    if partner_only.len():
        spells = pl.concat([spells, load_rows(con, "benefit_spell", linkage_level, "person_key", partner_only)])

    adult_births = pl.concat(
        [
            load_rows(con, "birth", linkage_level, "mother_key", adult_keys),
            load_rows(con, "birth", linkage_level, "father_key", adult_keys),
        ]
    ).unique()
    adult_inclusions = load_rows(con, "benefit_child", linkage_level, "caregiver_key", adult_keys)
    candidates = _keys((adult_births, "child_key"), (adult_inclusions, "child_key"))
    persons = load_rows(con, "person", linkage_level, "person_key", pl.concat([adult_keys, candidates]).unique())
    persons = persons.unique("person_key", keep="first").with_columns(birth_reference_day().alias("ref_day"))
    siblings = other_children(adults, adult_births, adult_inclusions, persons)
    people = _keys((adults, "adult_key"), (siblings, "sibling_key"))

    health: dict[str, pl.DataFrame] = {}
    if include_health:
        health = load_health_inputs(con, linkage_level, children, caregivers, siblings)
    return CohortInputs(
        birth_year=int(birth_year),
        linkage_level=linkage_level,
        children=children,
        caregivers=caregivers,
        adults=adults,
        siblings=siblings,
        persons=persons,
        spells=spells,
        addresses=load_rows(con, "benefit_address", linkage_level, "person_key", adult_keys),
        sentences=load_rows(con, "sentence", linkage_level, "person_key", adult_keys),
        notifications=load_rows(con, "cp_notification", linkage_level, "person_key", people),
        findings=load_rows(con, "cp_finding", linkage_level, "person_key", people),
        health=health,
    )
