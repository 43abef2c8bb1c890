"""The incidence tables' contracts (analysis zone, schema `incidence`): name, DuckDB type
and description of every column, in order, and a cast that holds a frame to them."""

from __future__ import annotations

import polars as pl

POLARS_TYPES = {"VARCHAR": pl.String, "INTEGER": pl.Int32, "BIGINT": pl.Int64, "DOUBLE": pl.Float64}
POLARS_TYPES["BOOLEAN"] = pl.Boolean

_PER_1000 = "per 1,000 children of the population"

RATES_COLUMNS = [
    ("group_type", "VARCHAR", "all, sex, ethnicity (total response), deprivation_decile or county_fips"),
    ("group", "VARCHAR", "the group's value (all for the whole cohort; unknown when not recorded)"),
    ("source", "VARCHAR", "cp_finding, cp_notification, police_fv, hospital, or any (each child once)"),
    (
        "measure",
        "VARCHAR",
        "by_age: first recorded before the age; in_year_of_age: first recorded in the year before it",
    ),
    ("age", "INTEGER", "age in years, 1 to 5"),
    ("children", "BIGINT", "children counted (null when suppressed)"),
    ("population", "BIGINT", "children of the group followed up to the age"),
    ("rate_per_1000", "DOUBLE", f"children {_PER_1000} (null when suppressed)"),
    ("lower_per_1000", "DOUBLE", "exact (Garwood) Poisson 95% lower limit, per 1,000"),
    ("upper_per_1000", "DOUBLE", "exact (Garwood) Poisson 95% upper limit, per 1,000"),
    ("suppressed", "BOOLEAN", "population under 11 or a count of 1 to 10: count and rates hidden"),
    ("linkage_level", "VARCHAR", "conservative or less_conservative"),
    ("birth_year", "INTEGER", "birth cohort (the partition)"),
]
OVERLAP_COLUMNS = [
    ("cp", "BOOLEAN", "recorded by CP (a finding or a notification) by age 5"),
    ("police_fv", "BOOLEAN", "recorded by police (FV notification or contact record) by age 5"),
    ("hospital", "BOOLEAN", "recorded by a hospital (maltreatment injury) by age 5"),
    ("lists", "BIGINT", "how many lists the pattern holds"),
    ("children", "BIGINT", "children with exactly this pattern (null for none: unobserved)"),
    ("linkage_level", "VARCHAR", "conservative or less_conservative"),
    ("population", "BIGINT", "children of the cohort followed up to age 5"),
    ("birth_year", "INTEGER", "birth cohort (the partition)"),
]
HEADLINE_COLUMNS = [
    ("linkage_level", "VARCHAR", "conservative, less_conservative, or truth (the synthetic world's own count)"),
    ("population", "BIGINT", "children of the cohort followed up to age 5"),
    ("known", "BIGINT", "children recorded by at least one list by age 5"),
    ("known_per_1000", "DOUBLE", f"known {_PER_1000}"),
    (
        "total",
        "DOUBLE",
        "estimated children maltreated by age 5 (AIC-weighted average of the identifiable models; truth: the true "
        "count)",
    ),
    ("total_lower", "DOUBLE", "model-averaged profile-likelihood 95% lower limit of the total"),
    ("total_upper", "DOUBLE", "model-averaged profile-likelihood 95% upper limit (infinite: open)"),
    ("total_per_1000", "DOUBLE", f"total {_PER_1000}"),
    ("undetected", "DOUBLE", "estimated maltreated children no list recorded (total - known)"),
    ("undetected_per_1000", "DOUBLE", f"undetected {_PER_1000}"),
    ("selected_total", "DOUBLE", "the selected model's total, shown beside"),
    ("independence_total", "DOUBLE", "the independence model's total, shown beside"),
    (
        "selected_model",
        "VARCHAR",
        "two-way interactions and heterogeneity term of the selected model (least AIC among identifiable models that leave a degree of freedom)",
    ),
    ("birth_year", "INTEGER", "birth cohort (the partition)"),
]
ESTIMATE_COLUMNS = HEADLINE_COLUMNS[:-1] + [
    ("identifiable", "BOOLEAN", "an identifiable model exists (else why_not says why)"),
    ("why_not", "VARCHAR", "why no model is identifiable (sparse overlaps)"),
    ("headline_method", "VARCHAR", "what the total and its interval are"),
    ("interval_finite", "BOOLEAN", "the total's (model-averaged) interval has a finite upper end"),
    ("undetected_lower_per_1000", "DOUBLE", "lower limit of the undetected, per 1,000"),
    ("undetected_upper_per_1000", "DOUBLE", "upper limit of the undetected, per 1,000"),
    (
        "selected_lower",
        "DOUBLE",
        "the selected model's selection-aware 95% lower limit: percentile interval of the selection procedure "
        "rerun on bootstrap tables from the averaged fit, widened to hold its profile interval",
    ),
    ("selected_upper", "DOUBLE", "the selected model's selection-aware 95% upper limit (infinite: open)"),
    (
        "selected_profile_lower",
        "DOUBLE",
        "the selected model's own profile-likelihood 95% lower limit (conditional on the model: no selection "
        "uncertainty)",
    ),
    ("selected_profile_upper", "DOUBLE", "the selected model's own profile-likelihood 95% upper limit"),
    (
        "selected_reselected_share",
        "DOUBLE",
        "share of the bootstrap tables on which the selection chose the selected model again",
    ),
    ("independence_lower", "DOUBLE", "the independence model's 95% lower limit"),
    ("independence_upper", "DOUBLE", "the independence model's 95% upper limit"),
    ("completeness_cp", "DOUBLE", "share of the estimated (averaged) total CP recorded"),
    ("completeness_police_fv", "DOUBLE", "share of the estimated (averaged) total police recorded"),
    ("completeness_hospital", "DOUBLE", "share of the estimated (averaged) total hospitals recorded"),
    ("birth_year", "INTEGER", "birth cohort (the partition)"),
]


def conform(frame: pl.DataFrame, columns: list[tuple[str, str, str]]) -> pl.DataFrame:
    """`frame` with exactly `columns`, in order and of their types (missing ones null)."""
    return frame.select(
        [
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(POLARS_TYPES[kind]).alias(name)
            for name, kind, _ in columns
        ]
    )
