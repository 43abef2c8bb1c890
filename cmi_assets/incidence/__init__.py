"""Child maltreatment incidence from linked administrative data (the CMI Data Linkages
question): per birth cohort and linkage level, how many children per 1,000 each agency
recorded and all agencies together recorded once, by age, sex, ethnicity, deprivation and
county, and how many no agency recorded, by multiple-systems estimation. Plain Python
(polars, numpy, DuckDB); scipy only inside loglinear.py's functions.

    children = cohort_children(con, 2012, "conservative")     # sources.py: who recorded whom, when
    rates = incidence_rates(children)                          # rates.py: per 1,000, exact interval
    curves = cumulative_incidence(children)                    # rates.py: Kaplan-Meier by age
    overlap = overlap_table(list_flags(children))              # overlap.py: the 2^k table
    estimate = estimate_from_overlap(overlap, list(LISTS))     # estimate.py / loglinear.py
"""

from cmi_assets.incidence.estimate import estimate_from_overlap, headline, models_table
from cmi_assets.incidence.overlap import list_flags, observed_counts, overlap_table, union_count
from cmi_assets.incidence.rates import cumulative_incidence, incidence_rates, published_curves, published_rates
from cmi_assets.incidence.sources import ANY, LISTS, SOURCE_LABELS, SOURCES, cohort_children

__all__ = [
    "ANY",
    "LISTS",
    "SOURCES",
    "SOURCE_LABELS",
    "cohort_children",
    "cumulative_incidence",
    "estimate_from_overlap",
    "headline",
    "incidence_rates",
    "list_flags",
    "models_table",
    "observed_counts",
    "overlap_table",
    "published_curves",
    "published_rates",
    "union_count",
]
