"""Birth-cohort tables of the NZ MSD 2014 PRM feasibility study, computed from the
de-identified event tables of the analysis zone (schema `events`, see events.py), per
linkage level. Plain Python (polars + DuckDB), no Dagster.

    population = cohort_population(con, 2010, "conservative")       # population.py
    features = cohort_features(con, 2010, "conservative")            # Box 1, markers, groups
    outcomes = cohort_outcomes(con, 2010, "conservative")            # by age 1..5, targets A-E
    table8_profile(features, outcomes)                                # Table 8 rows

Time rules (reference dates, windows, "by age k"): windows.py. Who the parents, caregivers
and other children are: family.py. One module per Box 1 domain: child, other_children,
parents, community; Box 2: box2; Figure 4 markers: markers; outcomes: outcomes.
"""

from cmi_assets.cohorts.box2 import BOX2_CATEGORIES
from cmi_assets.cohorts.events import EVENT_TABLES, LINKAGE_LEVELS, create_event_tables
from cmi_assets.cohorts.features import ETHNIC_GROUPS, FEATURE_CATEGORIES, cohort_features
from cmi_assets.cohorts.markers import RISK_MARKERS
from cmi_assets.cohorts.outcomes import OUTCOME_AGES, TARGET_LABELS, TARGETS, cohort_outcomes, outcome_column
from cmi_assets.cohorts.population import cohort_population, first_observations, observed_by_week
from cmi_assets.cohorts.table8 import TABLE8_ROWS, table8_flags, table8_profile

__all__ = [
    "BOX2_CATEGORIES",
    "ETHNIC_GROUPS",
    "EVENT_TABLES",
    "FEATURE_CATEGORIES",
    "LINKAGE_LEVELS",
    "OUTCOME_AGES",
    "RISK_MARKERS",
    "TABLE8_ROWS",
    "TARGETS",
    "TARGET_LABELS",
    "cohort_features",
    "cohort_outcomes",
    "cohort_population",
    "create_event_tables",
    "first_observations",
    "observed_by_week",
    "outcome_column",
    "table8_flags",
    "table8_profile",
]
