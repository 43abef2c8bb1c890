"""Declared column schemas of the cohort tables (population, features, outcomes): name,
DuckDB type and a description with its unit, built from the constants the builders use
(Box 1 and Box 2 categories, risk markers, Table 8 rows, targets and ages), so a user sees
every column in the UI before anything has run. A test compares them with the tables the
builders write."""

from __future__ import annotations

from cmi_assets.cohorts.box2 import BOX2_CATEGORIES
from cmi_assets.cohorts.features import ETHNIC_GROUPS, FEATURE_CATEGORIES
from cmi_assets.cohorts.markers import RISK_MARKERS
from cmi_assets.cohorts.outcomes import OUTCOME_AGES, TARGET_LABELS, TARGETS, outcome_column
from cmi_assets.cohorts.table8 import TABLE8_ROWS

Column = tuple[str, str, str]  # name, DuckDB type, description

KEY: list[Column] = [
    ("person_key", "VARCHAR", "pseudonymous person key (keyed hash of the linked person; no identifier)"),
    ("birth_year", "INTEGER", "birth cohort (calendar year of birth)"),
]
LEVEL: Column = ("linkage_level", "VARCHAR", "conservative or less_conservative: the spine the row was computed from")
OBSERVATION: list[Column] = [
    ("registered_by_3_months", "BOOLEAN", "birth registered by 91 days of age"),
    ("on_benefit_by_3_months", "BOOLEAN", "included in a caregiver's benefit by 91 days of age"),
    ("first_observation_source", "VARCHAR", "birth_registration or benefit: the source that saw the child first"),
    ("weeks_to_first_observation", "INTEGER", "weeks from birth to the first observation (Figure 5), weeks"),
]


def _categories(categories: list[str]) -> str:
    return "categories: " + "; ".join(categories)


def population_columns() -> list[Column]:
    return [
        *KEY,
        ("birth_month", "INTEGER", "month of birth, 1-12 (the date of birth is reduced to month and year)"),
        ("sex", "VARCHAR", "sex as recorded at birth registration or benefit"),
        ("ethnicity", "VARCHAR", "ethnic group as recorded"),
        ("registration_age_days", "INTEGER", "age at birth registration, days (null: never registered)"),
        ("benefit_claim_age_days", "INTEGER", "age at first inclusion in a caregiver's benefit, days (null: never)"),
        (
            "birth_reference_date",
            "DATE",
            "the 15th of the birth month: the reference date standing in for the date of birth",
        ),
        OBSERVATION[0],
        OBSERVATION[1],
        ("first_observed_age_days", "INTEGER", "age at the first observation in either source, days"),
        OBSERVATION[2],
        OBSERVATION[3],
        LEVEL,
    ]


def feature_columns() -> list[Column]:
    return [
        *KEY,
        ("birth_month", "INTEGER", "month of birth, 1-12"),
        *OBSERVATION,
        ("ethnicity", "VARCHAR", "ethnic group as recorded"),
        *[
            (f"ethnicity_{group.lower()}", "BOOLEAN", f"child recorded as {group} (Tables 7 and 9 groups)")
            for group in ETHNIC_GROUPS
        ],
        ("deprivation_decile", "INTEGER", "area deprivation decile of the caregiver's address, 1 (least) to 10"),
        ("high_deprivation", "BOOLEAN", "deprivation decile 8-10"),
        *[(name, "VARCHAR", f"Box 1: {_categories(categories)}") for name, categories in FEATURE_CATEGORIES.items()],
        *[
            (name, "VARCHAR", f"Box 2 (health data): {_categories(categories)}")
            for name, categories in BOX2_CATEGORIES.items()
        ],
        *[(name, "BOOLEAN", f"Figure 4 risk marker: {label}") for name, (label, _) in RISK_MARKERS.items()],
        ("marker_count", "INTEGER", f"number of the {len(RISK_MARKERS)} risk markers present, count"),
        ("five_plus_markers", "BOOLEAN", "5 or more risk markers (Figure 4)"),
        *[(f"t8_{key}", "BOOLEAN", f"Table 8 row: {label}") for key, (label, _) in TABLE8_ROWS.items()],
        LEVEL,
    ]


def outcome_columns() -> list[Column]:
    flags = [
        (
            outcome_column(target, age),
            "BOOLEAN",
            f"target {target} ({TARGET_LABELS[target]}) by age {age}; null while unobservable",
        )
        for target in TARGETS
        for age in OUTCOME_AGES
    ]
    events = [
        (outcome_column(target, age, events=True), "BIGINT", f"target {target} events by age {age}, count")
        for target in TARGETS
        for age in OUTCOME_AGES
    ]
    return [*KEY, *flags, *events, LEVEL]
