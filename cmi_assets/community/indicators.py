"""The community indicators: per child of a birth cohort (one linkage level), whether
they are in an indicator's denominator and whether they are counted in its numerator.
Each indicator is one small function of the child table below; its dotted path and
docstring are the definition the UI shows (community.indicator_definitions).

The children are the cohort's study population (incidence.sources.cohort_children: birth
registered or on a caregiver's benefit by 3 months) with sex, ethnicity, and the county
and deprivation decile of the birth registration's postcode. Every indicator counts only
children whose area is known (a linked birth registration with a postcode of the areas
file): a child known only from a benefit has no area, and leaving them out of every level
keeps the published margins exact (the counties of the state add up to the state).

Indicators "by age 5" take the children followed up to their fifth birthday
(incidence.sources.observed_to_age), so a cohort enters them once the data reach age 5.
Birth indicators take the whole cohort (the registration's weight or gestation where the
indicator needs it).

Strength-based indicators count a protective factor (a higher rate is better). None is
the complement of another published indicator on the same children: "no report by age 5"
would be population minus reports, so a cell suppressed in one would be recovered from
the other; a full-term birth and a caregiver off benefit are not exact complements of
anything published here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from cmi_assets.cohorts.child import LOW_BIRTH_WEIGHT_G, PRETERM_WEEKS
from cmi_assets.cohorts.cp import INVESTIGATION_RESPONSES, findings_with_dates
from cmi_assets.cohorts.events import load_rows
from cmi_assets.cohorts.windows import age_days_at, birth_reference_day
from cmi_assets.incidence.sources import ANY, cohort_children, first_age_column, observed_to_age, recorded_by_age

SCREENED_IN = "screened_in"  # first age at a notification that led to an investigation or assessment
CUSTODIAL = ("custodial non-violent", "custodial violent")  # cohorts.parents.CORRECTIONS
YOUNG_MOTHER_BAND = "<20"  # cohorts.parents.MOTHER_OR_CAREGIVER_AGE
NO_BENEFIT = "no time"  # cohorts.parents.TIME_ON_BENEFIT
FEATURE_COLUMNS = (
    "on_benefit_by_3_months",
    "mother_or_caregiver_age",
    "parent_corrections_5y",
    "caregiver_time_on_benefit_5y",
)
PER_1000_CHILDREN = "per 1,000 children"


def first_screened_in_ages(children: pl.DataFrame, notifications: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """person_key, first_age_days_screened_in: the age at the first notification that led
    to an investigation or an assessment (a CP finding record of either response, whatever
    its finding), dated by that notification (cohorts.cp.findings_with_dates)."""
    ref = children.select("person_key", birth_reference_day().alias("ref_day"))
    dated = findings_with_dates(findings, notifications).join(ref, on="person_key")
    ages = dated.filter(pl.col("response").is_in(INVESTIGATION_RESPONSES)).select(
        "person_key", age_days_at(pl.col("event_day"), pl.col("event_age_days"), pl.col("ref_day")).alias("age")
    )
    return (
        ages.filter(pl.col("age") >= 0)
        .group_by("person_key")
        .agg(pl.col("age").min().cast(pl.Int64).alias(first_age_column(SCREENED_IN)))
    )


def registrations(births: pl.DataFrame) -> pl.DataFrame:
    """person_key, birth_weight_g, gestation_weeks of each child's earliest birth
    registration (the one cohort_children takes its area from)."""
    return (
        births.sort("child_key", "registration_age_days", nulls_last=True)
        .unique("child_key", keep="first")
        .select(pl.col("child_key").alias("person_key"), "birth_weight_g", "gestation_weeks")
    )


def child_table(
    children: pl.DataFrame, screened_in: pl.DataFrame, births: pl.DataFrame, features: pl.DataFrame | None
) -> pl.DataFrame:
    """The cohort's children (cohort_children's table) with the first screened-in age,
    birth weight and gestation, and the cohort feature columns the birth indicators read
    (null when the feature table is not there)."""
    out = children.join(screened_in, on="person_key", how="left").join(
        registrations(births), on="person_key", how="left"
    )
    if features is not None and not features.is_empty():
        out = out.join(features.select("person_key", *FEATURE_COLUMNS), on="person_key", how="left")
    else:
        out = out.with_columns([pl.lit(None, pl.String).alias(c) for c in FEATURE_COLUMNS[1:]]).with_columns(
            pl.lit(None, pl.Boolean).alias(FEATURE_COLUMNS[0])
        )
    return out


def load_children(con, birth_year: int, linkage_level: str, features: pl.DataFrame | None) -> pl.DataFrame:
    """child_table of one cohort and linkage level from the analysis zone's event tables."""
    children = cohort_children(con, birth_year, linkage_level)
    keys = children["person_key"]
    screened = first_screened_in_ages(
        children,
        load_rows(con, "cp_notification", linkage_level, "person_key", keys),
        load_rows(con, "cp_finding", linkage_level, "person_key", keys),
    )
    births = load_rows(con, "birth", linkage_level, "child_key", keys)
    return child_table(children, screened, births, features)


# ---- the indicators: (in the denominator, counted) ------------------------------------------

Flags = tuple[pl.Expr, pl.Expr]


def _by_5(counted: pl.Expr) -> Flags:
    return observed_to_age(), counted


def reports() -> Flags:
    """Children with a report by age 5: a CP notification from any notifier, a police
    family-violence notification or contact record, or a substantiated finding (every
    finding follows a notification), among children followed up to age 5. Counted once
    per child: incidence.sources first ages of cp_notification, police_fv, cp_finding."""
    return _by_5(pl.any_horizontal([recorded_by_age(None, s) for s in ("cp_notification", "police_fv", "cp_finding")]))


def screened_in_reports() -> Flags:
    """Children with a screened-in report by age 5: a notification that led to an
    investigation or an assessment (a CP finding record of response INVESTIGATION or
    ASSESSMENT, any finding), dated by the notification, among children followed up to
    age 5 (first_screened_in_ages)."""
    return _by_5(recorded_by_age(None, SCREENED_IN))


def substantiations() -> Flags:
    """Children with a substantiated finding of maltreatment by age 5 (NZ para 41;
    incidence source cp_finding), among children followed up to age 5."""
    return _by_5(recorded_by_age(None, "cp_finding"))


def maltreatment_hospitalisations() -> Flags:
    """Children admitted to hospital for a maltreatment injury by age 5 (incidence source
    hospital: maltreatment syndrome or an assault cause, or an unexplained intracranial
    injury or long-bone fracture before age 1; same-day stays excluded), among children
    followed up to age 5."""
    return _by_5(recorded_by_age(None, "hospital"))


def incidence() -> Flags:
    """Children known to any agency for maltreatment by age 5: the unduplicated union of
    the incidence group's sources (CP finding, CP notification, police FV, hospital), each
    child once, among children followed up to age 5 (incidence.sources, source `any`)."""
    return _by_5(recorded_by_age(None, ANY))


def births_to_young_mothers() -> Flags:
    """Births whose mother (or primary caregiver, Box 1) was under 20 at the birth, among
    the cohort's children (cohort feature mother_or_caregiver_age = '<20'; an unknown age
    takes the study's default band, 30-34)."""
    return pl.col("mother_or_caregiver_age").is_not_null(), pl.col("mother_or_caregiver_age") == YOUNG_MOTHER_BAND


def benefit_at_birth() -> Flags:
    """Children included in a caregiver's benefit by 3 months of age (cohort feature
    on_benefit_by_3_months), among the cohort's children."""
    return pl.col("on_benefit_by_3_months").is_not_null(), pl.col("on_benefit_by_3_months")


def low_birth_weight() -> Flags:
    """Births under 2,500 g (cohorts.child.LOW_BIRTH_WEIGHT_G), among the cohort's
    children with a birth weight on their birth registration."""
    return pl.col("birth_weight_g").is_not_null(), pl.col("birth_weight_g") < LOW_BIRTH_WEIGHT_G


def parent_custodial_sentence() -> Flags:
    """Children a parent or caregiver of whom served a custodial sentence in the 5 years
    before the birth (cohort feature parent_corrections_5y: custodial violent or
    non-violent), among the cohort's children."""
    return pl.col("parent_corrections_5y").is_not_null(), pl.col("parent_corrections_5y").is_in(CUSTODIAL)


def full_term_births() -> Flags:
    """Strength-based: births at 37 weeks of gestation or more (cohorts.child.PRETERM_WEEKS),
    among the cohort's children with a gestation on their birth registration. A full-term
    birth is a good start in health (the measure of a community's maternal care that needs
    no deficit framing); higher is better."""
    return pl.col("gestation_weeks").is_not_null(), pl.col("gestation_weeks") >= PRETERM_WEEKS


def caregiver_off_benefit() -> Flags:
    """Strength-based: children whose primary caregiver spent no time on a benefit in the 5
    years before the birth (cohort feature caregiver_time_on_benefit_5y = 'no time'), among
    the cohort's children. Household income from work is an economic protective factor;
    higher is better. Not the complement of benefit_at_birth (another window and another
    person)."""
    return (
        pl.col("caregiver_time_on_benefit_5y").is_not_null(),
        pl.col("caregiver_time_on_benefit_5y") == NO_BENEFIT,
    )


@dataclass(frozen=True)
class Indicator:
    id: str
    title: str
    numerator: str
    denominator: str
    source: str
    flags: Callable[[], Flags] | None  # None: not a child-level indicator (recurrence)
    strength_based: bool = False
    unit: str = PER_1000_CHILDREN

    def definition(self) -> str:
        if self.flags is None:
            return RECURRENCE_DEFINITION
        doc = inspect.getdoc(self.flags) or ""
        return f"{self.flags.__module__}.{self.flags.__name__}: {' '.join(doc.split())}"


BY_5 = "children of the birth cohort followed up to age 5, area known"
COHORT = "children of the birth cohort, area known"
RECURRENCE_DEFINITION = (
    "cmi_assets.cfsr.recurrence (CFSR Round 4 recurrence of maltreatment, table cfsr.recurrence_by_state): "
    "numerator = children with another substantiated or indicated report within 12 months of a first one in the "
    "period, denominator = children with a substantiated or indicated report in the 12-month period. NCANDS "
    "Child Files are by state: this indicator is published at state level only."
)

CHILD_INDICATORS: tuple[Indicator, ...] = (
    Indicator("reports", "Reported to CP or police FV by age 5", "children with a report by age 5", BY_5,
              "child_protection (notifications, findings)", reports),
    Indicator("screened_in_reports", "Screened-in report by age 5", "children with an investigated or assessed report",
              BY_5, "child_protection (findings of an investigation or assessment)", screened_in_reports),
    Indicator("substantiations", "Substantiated maltreatment by age 5", "children with a substantiated finding",
              BY_5, "child_protection (findings)", substantiations),
    Indicator("maltreatment_hospitalisations", "Hospitalised for a maltreatment injury by age 5",
              "children admitted for a maltreatment injury", BY_5, "health (hospitalisations)",
              maltreatment_hospitalisations),
    Indicator("incidence", "Known to any agency for maltreatment by age 5 (union of sources)",
              "children recorded by CP, police FV or hospital", BY_5,
              "child_protection, health (union, incidence group)", incidence),
    Indicator("births_to_young_mothers", "Births to a mother (or caregiver) under 20", "children", COHORT,
              "births, benefits (cohort features)", births_to_young_mothers),
    Indicator("benefit_at_birth", "On a caregiver's benefit by 3 months", "children", COHORT, "benefits",
              benefit_at_birth),
    Indicator("low_birth_weight", "Low birth weight (under 2,500 g)", "births under 2,500 g",
              "births of the cohort with a recorded weight, area known", "births (registrations)", low_birth_weight),
    Indicator("parent_custodial_sentence", "A parent with a custodial sentence in the 5 years before birth",
              "children", COHORT, "corrections (sentences)", parent_custodial_sentence),
    Indicator("full_term_births", "Full-term births (37 weeks or more)", "births at 37+ weeks",
              "births of the cohort with a recorded gestation, area known", "births (registrations)",
              full_term_births, strength_based=True),
    Indicator("caregiver_off_benefit", "Caregiver off benefit in the 5 years before birth", "children", COHORT,
              "benefits (spells)", caregiver_off_benefit, strength_based=True),
)  # fmt: skip
RECURRENCE = Indicator(
    "cfsr_recurrence",
    "Recurrence of maltreatment within 12 months (CFSR Round 4), by state",
    "children with a recurrence within 12 months",
    "children with a substantiated or indicated report in the 12-month period",
    "child_protection (NCANDS Child File)",
    None,
    unit="per 1,000 children with a substantiated or indicated report",
)
INDICATORS: tuple[Indicator, ...] = (*CHILD_INDICATORS, RECURRENCE)


def indicator_members(children: pl.DataFrame, indicators=CHILD_INDICATORS) -> pl.DataFrame:
    """One row per child and indicator whose denominator holds them: indicator, the group
    and area columns, and `counted` (in the numerator). Children without a county are in
    no denominator (the module docstring says why)."""
    keep = ["sex", "ethnicity", "deprivation_decile", "county_fips"] + (
        ["postcode"] if "postcode" in children.columns else []
    )
    known = children.filter(pl.col("county_fips").is_not_null())
    parts = []
    for ind in indicators:
        member, counted = ind.flags()
        parts.append(
            known.filter(member.fill_null(False)).select(
                pl.lit(ind.id).alias("indicator"), *keep, counted.fill_null(False).alias("counted")
            )
        )
    return pl.concat(parts, how="vertical_relaxed")


def definitions_table() -> pl.DataFrame:
    """community.indicator_definitions: one row per indicator."""
    return pl.DataFrame(
        [
            {
                "indicator": i.id,
                "title": i.title,
                "numerator": i.numerator,
                "denominator": i.denominator,
                "unit": i.unit,
                "source": i.source,
                "strength_based": i.strength_based,
                "definition": i.definition(),
            }
            for i in INDICATORS
        ]
    )
