"""The community indicator table's contract (DuckDB `community.indicators`) and the
definitions table beside it (`community.indicator_definitions`): names, types and what
each column means, in table order. One long table for every indicator, period, area and
group; nothing in it identifies a child (no person_key, no names, no IDs)."""

from __future__ import annotations

import polars as pl

SCHEMA = "community"
INDICATORS_TABLE = f"{SCHEMA}.indicators"
DEFINITIONS_TABLE = f"{SCHEMA}.indicator_definitions"

Column = tuple[str, str, str]  # name, DuckDB type, description

INDICATOR_COLUMNS: list[Column] = [
    ("indicator", "VARCHAR", "short id of the indicator (community.indicator_definitions)"),
    ("strength_based", "BOOLEAN", "true: a higher rate is better (a protective factor, not a need)"),
    ("linkage_level", "VARCHAR", "conservative | less_conservative: the person spine the counts rest on"),
    ("period", "VARCHAR", "birth cohort year (e.g. 2012), or the CFSR period label for recurrence"),
    ("geography_level", "VARCHAR", "state | county | postcode"),
    ("geography_code", "VARCHAR", "state code, 5-digit county FIPS, or postcode"),
    ("parent_code", "VARCHAR", "the county of a postcode, the state of a county, null for a state"),
    ("group_type", "VARCHAR", "all | sex | ethnicity | deprivation_decile"),
    ("group_value", "VARCHAR", "the group ('all' when group_type is all); ethnicity is total response"),
    ("count", "BIGINT", "children counted in the numerator (null when suppressed)"),
    ("population", "BIGINT", "children in the denominator"),
    ("rate_per_1000", "DOUBLE", "count per 1,000 of the population"),
    ("rate_lower", "DOUBLE", "lower end of the exact (Garwood) Poisson 95% interval, per 1,000"),
    ("rate_upper", "DOUBLE", "upper end of the exact (Garwood) Poisson 95% interval, per 1,000"),
    (
        "smoothed_rate_per_1000",
        "DOUBLE",
        "empirical-Bayes rate per 1,000 (Marshall 1991 global Poisson-gamma shrinkage across the areas of the level)",
    ),
    ("reliability", "VARCHAR", "reliable | unreliable (NCHS: under 20 events, or RSE over 30%) | suppressed"),
    ("suppressed", "BOOLEAN", "count and rates hidden by disclosure control"),
    ("suppression_reason", "VARCHAR", "primary | complementary | null"),
]

DEFINITION_COLUMNS: list[Column] = [
    ("indicator", "VARCHAR", "short id of the indicator"),
    ("title", "VARCHAR", "what the indicator is, in words"),
    ("numerator", "VARCHAR", "who is counted"),
    ("denominator", "VARCHAR", "among whom"),
    ("unit", "VARCHAR", "the unit of the rate"),
    ("source", "VARCHAR", "which agency extract the numerator comes from"),
    ("strength_based", "BOOLEAN", "a protective factor (higher is better), and why"),
    ("definition", "VARCHAR", "the function that computes the flag (dotted path) and its docstring"),
]

_POLARS = {"VARCHAR": pl.String, "BOOLEAN": pl.Boolean, "BIGINT": pl.Int64, "DOUBLE": pl.Float64}


def conform(frame: pl.DataFrame, columns: list[Column]) -> pl.DataFrame:
    """`frame` with exactly `columns`, in order and of their types."""
    return frame.select([pl.col(name).cast(_POLARS[kind]) for name, kind, _ in columns])


def empty(columns: list[Column]) -> pl.DataFrame:
    return pl.DataFrame(schema={name: _POLARS[kind] for name, kind, _ in columns})
