"""Observed recurrence broken down by age group, race/ethnicity, sex, county and
maltreatment type, per state and pooled (the "Examining Equity" disaggregation of the
indicator sheet; the groups of CFSR R4 rules, section 2.3 and section 6).

Every breakdown describes the children in the denominator by their *initial*
victimization report (section 2.1 step 7): its county of investigation (RPTCNTY,
#5), the child's race and ethnicity flags (#15-21) and sex (#14) on that report, and
the maltreatment types substantiated or indicated on it (#26-33; a child with two
such types counts in both groups, so that breakdown's groups overlap).

Small cells are suppressed (suppression.py, the one rule for every published CFSR
table): a group with fewer than 11 children in the denominator shows no numerator and
no observed rate (`suppressed` = true). DQ state-periods show
no observed rate at all (section 2.1 step 4), and the pooled rows ("national") use
DQ-passing states only, as the pooled observed performance does (step 12).
"""

from __future__ import annotations

import polars as pl

from cmi_assets.cfsr.child_file import MALTREATMENT_TYPES
from cmi_assets.cfsr.suppression import DRILLDOWN_VALUES, suppress_small_cells
from cmi_assets.publish.disclosure import SUPPRESS_BELOW

NATIONAL = "national"
DIMENSIONS = ("age_group", "race_ethnicity", "sex", "county", "maltreatment_type")

# Section 6 #15-20 race flags -> section 2.3 groups (1 = yes).
RACE_GROUP_BY_FLAG = {"CHRACAI": "aian", "CHRACAS": "asian", "CHRACBL": "black", "CHRACNH": "nhpi", "CHRACWH": "white"}
SEX_LABELS = {"1": "male", "2": "female"}
MALTREATMENT_TYPE_LABELS = {
    "1": "physical abuse",
    "2": "neglect or deprivation",
    "3": "medical neglect",
    "4": "sexual abuse",
    "5": "psychological or emotional",
    "6": "no alleged maltreatment",
    "7": "sex trafficking",
    "8": "other",
    "9": "unknown",
}
VICTIM_LEVELS = ["1", "2"]
OUT_OF_STATE_COUNTY, UNKNOWN_COUNTY = "998", "999"

DRILLDOWN_SCHEMA = {
    "state": pl.String,
    "dimension": pl.String,
    "group": pl.String,
    "denominator": pl.Int64,
    "numerator": pl.Int64,
    "observed": pl.Float64,
    "suppressed": pl.Boolean,
    "dq_status": pl.String,
}


# --- the groups, one expression each ------------------------------------------------------


def race_ethnicity() -> pl.Expr:
    """Section 2.3 groups: Hispanic of any race when CHETHN = 1; otherwise the one race
    flagged yes, "two_or_more" for several, "missing" for none (unable to determine,
    unknown or blank)."""
    flagged = [(pl.col(flag) == "1").fill_null(False) for flag in RACE_GROUP_BY_FLAG]
    n_races = pl.sum_horizontal(*[f.cast(pl.Int32) for f in flagged])
    single: pl.Expr | pl.When | pl.Then = pl
    for flag, group in RACE_GROUP_BY_FLAG.items():
        single = single.when((pl.col(flag) == "1").fill_null(False)).then(pl.lit(group))
    return (
        pl.when((pl.col("CHETHN") == "1").fill_null(False))
        .then(pl.lit("hispanic"))
        .when(n_races > 1)
        .then(pl.lit("two_or_more"))
        .when(n_races == 1)
        .then(single.otherwise(pl.lit("missing")))
        .otherwise(pl.lit("missing"))
        .alias("race_ethnicity")
    )


def sex() -> pl.Expr:
    """CHSEX 1 male, 2 female; 9 or blank unknown."""
    return pl.col("CHSEX").replace_strict(SEX_LABELS, default="unknown", return_dtype=pl.String).alias("sex")


def county() -> pl.Expr:
    """County of investigation (RPTCNTY, 3-digit FIPS); 998 out of state, 999 or blank unknown."""
    return (
        pl.when(pl.col("RPTCNTY") == OUT_OF_STATE_COUNTY)
        .then(pl.lit("out of state"))
        .when(pl.col("RPTCNTY").is_null() | (pl.col("RPTCNTY") == UNKNOWN_COUNTY))
        .then(pl.lit("unknown"))
        .otherwise(pl.col("RPTCNTY"))
        .alias("county")
    )


def maltreatment_types() -> pl.Expr:
    """The maltreatment types substantiated or indicated on the report (a list); a
    victim by maltreatment death alone has none and is listed as "death, no finding"."""
    types = [
        pl.when(pl.col(level).is_in(VICTIM_LEVELS).fill_null(False)).then(
            pl.col(kind).replace_strict(MALTREATMENT_TYPE_LABELS, default="unknown", return_dtype=pl.String)
        )
        for kind, level in zip(MALTREATMENT_TYPES, ["MAL1LEV", "MAL2LEV", "MAL3LEV", "MAL4LEV"])
    ]
    listed = pl.concat_list(types).list.drop_nulls().list.unique().list.sort()
    return (
        pl.when(listed.list.len() > 0).then(listed).otherwise(pl.lit(["death, no finding"])).alias("maltreatment_type")
    )


# --- children in the denominator -----------------------------------------------------------


def initial_report_records(file_t: pl.DataFrame, file_t1: pl.DataFrame) -> pl.DataFrame:
    """One row per report-child pair of the two files, the later submission kept (as
    the rules do, section 2.1 step 2), with the drill-down attributes."""
    both = pl.concat([file_t, file_t1], how="diagonal_relaxed")
    return (
        both.sort("SUBYR")
        .unique(["STATERR", "RPTID", "CHID"], keep="last")
        .select("STATERR", "CHID", "RPTID", race_ethnicity(), sex(), county(), maltreatment_types())
    )


def denominator_children(audit: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """The children in the denominator (audit rows with in_denominator) with state,
    recur, age group and the attributes of their initial report. Agency IDs are
    dropped: the result carries groups only."""
    children = audit.filter(pl.col("in_denominator")).select("STATERR", "CHID", "initial_rptid", "recur", "age_group")
    joined = children.join(
        records, left_on=["STATERR", "CHID", "initial_rptid"], right_on=["STATERR", "CHID", "RPTID"], how="left"
    )
    return joined.select(
        pl.col("STATERR").alias("state"),
        "recur",
        "age_group",
        pl.col("race_ethnicity").fill_null("missing"),
        pl.col("sex").fill_null("unknown"),
        pl.col("county").fill_null("unknown"),
        pl.col("maltreatment_type").fill_null(pl.lit(["unknown"])),
    )


# --- observed performance by group --------------------------------------------------------


def observed_by_group(
    children: pl.DataFrame, dimension: str, dq_status: pl.DataFrame, min_denominator: int = SUPPRESS_BELOW
) -> pl.DataFrame:
    """Denominator, numerator and observed rate per state and group of `dimension`, plus
    pooled rows (state "national", DQ-passing states). `dq_status` has state, dq_status;
    a DQ state's rows show counts but no observed rate."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown drill-down dimension {dimension!r}; use one of {DIMENSIONS}")
    rows = children.explode(dimension) if children.schema[dimension] == pl.List(pl.String) else children
    rows = rows.join(dq_status, on="state", how="left").with_columns(pl.col("dq_status").fill_null("pass"))

    def counts(frame: pl.DataFrame, by: list[pl.Expr]) -> pl.DataFrame:
        return frame.group_by(by).agg(
            denominator=pl.len().cast(pl.Int64), numerator=pl.col("recur").sum().cast(pl.Int64)
        )

    per_state = counts(rows, [pl.col("state"), pl.col(dimension).alias("group"), pl.col("dq_status")])
    pooled = counts(
        rows.filter(pl.col("dq_status") == "pass"),
        [pl.lit(NATIONAL).alias("state"), pl.col(dimension).alias("group"), pl.lit("pass").alias("dq_status")],
    )
    table = pl.concat([per_state, pooled]).with_columns(
        dimension=pl.lit(dimension),
        observed=pl.when(pl.col("dq_status") == "pass").then(pl.col("numerator") / pl.col("denominator")),
    )
    return (
        suppress_small_cells(table, DRILLDOWN_VALUES, min_denominator=min_denominator)
        .select(list(DRILLDOWN_SCHEMA))
        .cast(DRILLDOWN_SCHEMA)
        .sort("state", "group")
    )


def drilldown_table(
    children: pl.DataFrame, dq_status: pl.DataFrame, min_denominator: int = SUPPRESS_BELOW
) -> pl.DataFrame:
    """Every dimension of DIMENSIONS stacked: state, dimension, group, denominator,
    numerator, observed, suppressed, dq_status."""
    if children.is_empty():
        return pl.DataFrame(schema=DRILLDOWN_SCHEMA)
    return pl.concat([observed_by_group(children, d, dq_status, min_denominator) for d in DIMENSIONS])
